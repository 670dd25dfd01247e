/*
 * node-daemonize-helper: the double fork that Node cannot do in-process.
 *
 * Started by the addon with posix_spawn, an empty environment, default
 * signal dispositions and an empty mask, and this fd layout (protocol.h):
 *   0,1,2 /dev/null   3 the plan (memfd)   4 status pipe (write end)
 *   5 the daemon's log   6 the locked lock file (optional)
 *   7 the pid file (optional; the helper's alone, never the daemon's)
 *   8 the supervisor's state file (optional)   9.. the listening sockets
 *
 *   helper: read the plan (plan.c), setsid(), verify it leads a new
 *           session, fork(), write the daemon's pid into the pid file and
 *           close it.
 *   daemon: the checklist in daemon_steps.c, ending in execve.
 *   helper: forward the daemon's records to the caller, then watch the
 *           start-up window (window.c): READY, exit or timeout; report, exit.
 *           Without a window, the handoff (daemon_steps.h): exit once the
 *           "exec" record is forwarded; the daemon execs after that.
 *
 * The pid file is written by the helper, not by the daemon: a daemon that
 * held a writable descriptor of the file naming it (and runs as the
 * service user) could write any pid or gigabytes into it and mislead or
 * stall root's stop and status.
 *
 * Every record is one write(2) of a struct nd_record (records.c). The
 * helper writes to the caller's pipe: the daemon's records go through it,
 * so they arrive in order, and the caller's EOF means the helper is gone.
 * After a handoff, what the daemon has to say after "exec" (its execve
 * failed, or the wait for the helper did) goes straight to the caller;
 * there the EOF is also the daemon's execve.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon_steps.h"
#include "pid1.h"
#include "plan.h"
#include "proc.h"
#include "protocol.h"
#include "records.h"
#include "retry.h"
#include "supervise.h"
#include "window.h"

/* The pid, in decimal, with a newline. */
static size_t format_pid(char *buf, pid_t pid) {
  char tmp[24];
  size_t n = 0, len = 0;
  unsigned long v = (unsigned long)pid;
  do tmp[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  while (n) buf[len++] = tmp[--n];
  buf[len++] = '\n';
  return len;
}

/* Write the daemon's pid (decimal, newline) into the pid file the caller
 * truncated under the lock (empty means "starting"). Returns 0 or an errno. */
static int write_pid_file(pid_t daemon) {
  char buf[24];
  size_t len = format_pid(buf, daemon);
  ssize_t n = RETRY(pwrite(ND_HELPER_FD_PIDFILE, buf, len, 0));
  if (n < 0) return errno != 0 ? errno : EIO;
  return n == (ssize_t)len ? 0 : EIO; /* a short write: a full disk */
}

/* The log path the daemon was given (NODE_DAEMONIZE_LOG_FILE), for the
 * supervisor's reopen; NULL without a log file. */
static const char *plan_log_path(const struct plan *pl) {
  static const char key[] = "NODE_DAEMONIZE_LOG_FILE=";
  for (uint32_t i = 0; i < pl->h.envc; i++)
    if (strncmp(pl->envp[i], key, sizeof key - 1) == 0) return pl->envp[i] + sizeof key - 1;
  return NULL;
}

/* --respawn (supervise.h): fork the supervisor, write its pid into the pid
 * file, report it, and exit, so that the supervisor is reparented at once
 * and the caller is never its parent. The supervisor waits for that exit
 * (EOF on a pipe only the helper holds) before it forks the first
 * generation, so the records reach the caller in order. */
static int run_supervised(struct plan *pl, pid_t sid) {
  /* `run` (pid1.h): this process, exec'd in place of the caller, is the
   * supervisor: no fork, nobody to report to. */
  const int run = (pl->h.flags & ND_PLAN_RUN) != 0;
  /* Generations never get the lock: the supervisor holds it. */
  pl->h.flags &= ~ND_PLAN_HAS_LOCK;
  int go[2] = {-1, -1};
  if (!run && pipe2(go, O_CLOEXEC) < 0) {
    helper_report(ND_STAGE_supervise, ND_SYS_pipe2, errno, 0);
    return 1;
  }
  pid_t sup = run ? 0 : fork();
  if (sup < 0) {
    helper_report(ND_STAGE_supervise, 0, errno, 0);
    return 1;
  }
  if (sup == 0 && !run) {
    close(go[1]);
    char byte;
    while (RETRY(read(go[0], &byte, 1)) > 0) {
    }
    close(go[0]);
  }
  if (sup == 0) {
    /* The daemon's umask: a log the supervisor re-creates on rotation gets
     * the mode the daemon's own reopen would give it. */
    umask((mode_t)pl->h.umask);
    /* Every helper slot stays occupied (supervise.h); the pid file's is
     * the helper's, never the supervisor's. */
    for (int fd = ND_HELPER_FD_PLAN; fd < ND_HELPER_FD_FIRST_FREE; fd++)
      if ((!run && fd == ND_HELPER_FD_PIDFILE) || fcntl(fd, F_GETFD) < 0) (void)dup3(0, fd, O_CLOEXEC);
    (void)fcntl(ND_HELPER_FD_LOCK, F_SETFD, FD_CLOEXEC);
    (void)fcntl(ND_HELPER_FD_LOG, F_SETFD, FD_CLOEXEC);
    (void)fcntl(ND_HELPER_FD_STATE, F_SETFD, FD_CLOEXEC);
    struct nd_supervise_config c;
    memset(&c, 0, sizeof c);
    c.policy.mode = pl->respawn.mode;
    c.policy.delay_ms = pl->respawn.delay_ms;
    c.policy.max_delay_ms = pl->respawn.max_delay_ms;
    c.policy.limit = pl->respawn.limit;
    c.policy.window_ms = pl->respawn.window_ms;
    memcpy(c.policy.no_respawn, pl->respawn.no_respawn, sizeof c.policy.no_respawn);
    if (nd_policy_check(&c.policy) < 0) {
      helper_report(ND_STAGE_plan, 0, ND_EPLAN, 0);
      _exit(1);
    }
    c.instances = pl->respawn.instances > 0 ? pl->respawn.instances : 1; /* <= ND_INSTANCES_MAX: plan.c */
    c.max_memory_bytes = pl->respawn.max_memory_bytes;
    c.min_uptime_ms = pl->respawn.min_uptime_ms;
    c.stop_timeout_ms = pl->respawn.stop_timeout_ms;
    c.window_ms = pl->h.window_ms;
    c.want_ready = (pl->h.flags & ND_PLAN_WANT_READY) != 0;
    c.keep_on_timeout = (pl->h.flags & ND_PLAN_KEEP_ON_TIMEOUT) != 0;
    c.set_ids = (pl->h.flags & ND_PLAN_SET_IDS) != 0;
    c.uid = (uid_t)pl->h.uid;
    c.gid = (gid_t)pl->h.gid;
    c.log_path = plan_log_path(pl);
    c.sid = sid;
    c.fault_no_subreaper = (pl->h.flags & ND_PLAN_FAULT_NO_SUBREAPER) != 0;
    c.fault_no_cgroup = (pl->h.flags & ND_PLAN_FAULT_NO_CGROUP) != 0;
    pl->die_with_parent = getpid();
    pl->own_group = 1;
    c.plan = pl;
    if (run) pid1_prepare(&c, pl);
    _exit(nd_supervise(&c));
  }
  close(go[0]);
  int pid_err = 0;
  if (pl->h.flags & ND_PLAN_HAS_PIDFILE) {
    pid_err = write_pid_file(sup);
    close(ND_HELPER_FD_PIDFILE);
  }
  helper_report(ND_STAGE_supervise, 0, 0, sup);
  if (pl->h.flags & ND_PLAN_HAS_PIDFILE) {
    if (pid_err != 0) {
      helper_report(ND_STAGE_pidfile, 0, pid_err, sup);
      window_kill_and_reap(sup);
      return 1;
    }
    helper_report(ND_STAGE_pidfile, 0, 0, sup);
  }
  return 0; /* exiting closes go[1]: the supervisor goes on */
}

/* The handoff's fds, above the daemon's layout, close-on-exec: a copy of
 * the caller's pipe, and a pidfd of this process (-1 where the kernel has
 * none: the daemon then waits for the record pipe to close). Returns 0 or
 * an errno. */
static int handoff_fds(struct daemon_handoff *h, pid_t self, int above) {
  h->caller = fcntl(ND_HELPER_FD_STATUS, F_DUPFD_CLOEXEC, above);
  if (h->caller < 0) return errno;
  int pidfd = proc_pidfd_open(self);
  if (pidfd >= 0) {
    h->helper_exit = fcntl(pidfd, F_DUPFD_CLOEXEC, above);
    close(pidfd);
  }
  return 0;
}

static void usage(void) {
  static const char text[] =
      "usage: node-daemonize-helper\n"
      "  Started by node-daemonize, not by hand: it reads its plan from fd 3 and\n"
      "  writes status records to fd 4 (see native/protocol.h).\n";
  (void)!write(2, text, sizeof text - 1);
}

int main(int argc, char **argv) {
  (void)argv;
  if (argc > 1) {
    usage();
    return 2;
  }
  /* posix_spawn's dup2 cleared close-on-exec on the status pipe: set it
   * again at once, so the daemon can never inherit it. */
  if (fcntl(ND_HELPER_FD_STATUS, F_SETFD, FD_CLOEXEC) < 0) {
    usage();
    return 2;
  }
  (void)fcntl(ND_HELPER_FD_PLAN, F_SETFD, FD_CLOEXEC);
  /* Cleared by posix_spawn's dup2 too: the daemon's exec must never carry
   * the pid file (it closes it at once anyway). EBADF without one. */
  (void)fcntl(ND_HELPER_FD_PIDFILE, F_SETFD, FD_CLOEXEC);
  /* The caller reading the records may go away; the helper must not die of
   * SIGPIPE halfway through. The daemon resets this before exec. */
  signal(SIGPIPE, SIG_IGN);
  /* Likewise a pid file that cannot grow (RLIMIT_FSIZE) must be an EFBIG
   * failure the caller hears about, not a helper killed by SIGXFSZ. */
  signal(SIGXFSZ, SIG_IGN);
  struct plan pl;
  memset(&pl, 0, sizeof pl);
  int err = plan_load(&pl);
  /* Drop whatever else the caller let through (fds it did not mark
   * close-on-exec): everything above the sockets, whose number the plan
   * gives. */
  unsigned int first_free = ND_HELPER_FD_FIRST_FREE_AFTER(err ? 0 : pl.h.nsockets);
#ifdef SYS_close_range
  if (syscall(SYS_close_range, first_free, ~0U, 0) < 0)
#endif
    (void)daemon_cloexec_from(first_free);
  if (err == 0) err = plan_check_sockets(&pl);
  if (err) {
    helper_report(ND_STAGE_plan, 0, err, 0);
    return 1;
  }

  /* `run`: no new session; the caller's is kept (never killed by). */
  if (pl.h.flags & ND_PLAN_RUN) return run_supervised(&pl, getsid(0));

  pid_t self = getpid();
  pid_t sid = setsid();
  if (sid < 0) {
    helper_report(ND_STAGE_setsid, 0, errno, 0);
    return 1;
  }
  if (getsid(0) != self || sid != self) {
    helper_report(ND_STAGE_setsid, 0, ND_EVERIFY, getsid(0));
    return 1;
  }
  helper_report(ND_STAGE_setsid, 0, 0, sid);

  if (pl.h.flags & ND_PLAN_RESPAWN) return run_supervised(&pl, sid);

  /* A subreaper inherits what the daemon starts if the daemon dies in the
   * window, so that a failed launch can leave nothing running. */
  if (pl.h.window_ms > 0 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    /* EINVAL where there is no such option (qemu-user): go on without it,
     * as a kernel before 3.4 would, with a note in the log; what the daemon
     * leaves behind in the window is still killed with its session. */
    if (errno != EINVAL) {
      helper_report(ND_STAGE_fork, ND_SYS_prctl, errno, 0);
      return 1;
    }
    static const char note[] =
        "node-daemonize-helper: note: PR_SET_CHILD_SUBREAPER is not available here (EINVAL); "
        "going on without it\n";
    (void)!write(ND_HELPER_FD_LOG, note, sizeof note - 1);
  }
  /* The daemon's pipes sit above every target of its fd layout; the
   * targets do not depend on which pipes there are. */
  struct nd_fd_move moves[ND_DAEMON_FD_MOVES_MAX];
  int above = daemon_fd_moves_top(moves, plan_daemon_fd_moves(&pl, -1, moves)) + 1;
  int rep[2], ready[2] = {-1, -1};
  int perr = fd_pipe_above(rep, above);
  if (perr == 0 && (pl.h.flags & ND_PLAN_WANT_READY)) perr = fd_pipe_above(ready, above);
  if (perr != 0) {
    helper_report(ND_STAGE_fork, ND_SYS_pipe2, perr, 0);
    return 1;
  }
  size_t nmoves = plan_daemon_fd_moves(&pl, ready[1], moves); /* the layout, final */
  /* No start-up window: the handoff (daemon_steps.h). */
  int handoff = pl.h.window_ms == 0 && !(pl.h.flags & (ND_PLAN_DRY_RUN | ND_PLAN_WANT_READY));
  struct daemon_handoff hand = {-1, -1};
  if (handoff && (perr = handoff_fds(&hand, self, above)) != 0) {
    helper_report(ND_STAGE_fork, ND_SYS_fcntl, perr, 0);
    return 1;
  }

  pid_t daemon = fork();
  if (daemon < 0) {
    helper_report(ND_STAGE_fork, 0, errno, 0);
    return 1;
  }
  if (daemon == 0) {
    close(rep[0]);
    if (ready[0] >= 0) close(ready[0]);
    daemon_become(&pl, self, rep[1], handoff ? &hand : NULL, moves, nmoves);
  }
  if (hand.caller >= 0) close(hand.caller);
  if (hand.helper_exit >= 0) close(hand.helper_exit);
  /* Fault injection for the tests: stopped here, the helper can be killed
   * after the fork but before anyone learnt the daemon's pid. */
  if (pl.h.flags & ND_PLAN_FAULT_STOP_AFTER_FORK) raise(SIGSTOP);
  /* The pid goes into the pid file before the caller even learns it, so
   * "lock held, pid file empty" (starting) lasts only from the caller's
   * lock to this fork. A pid file that cannot be written fails the launch
   * with nothing left running. */
  int pid_err = 0;
  if (pl.h.flags & ND_PLAN_HAS_PIDFILE) {
    pid_err = write_pid_file(daemon);
    close(ND_HELPER_FD_PIDFILE);
  }
  helper_report(ND_STAGE_fork, 0, 0, daemon);
  close(rep[1]);
  if (ready[1] >= 0) close(ready[1]);
  if (pl.h.flags & ND_PLAN_HAS_PIDFILE) {
    if (pid_err != 0) {
      helper_report(ND_STAGE_pidfile, 0, pid_err, daemon);
      window_kill_and_reap(daemon);
      window_kill_descendants(); /* with a window, a subreaper: anything it forked */
      return 1;
    }
    helper_report(ND_STAGE_pidfile, 0, 0, daemon);
  }

  if (window_forward_until_exec(rep[0], daemon, handoff) < 0) return 1;
  if (pl.h.flags & ND_PLAN_DRY_RUN) { /* the checks passed; the child has exited */
    window_reap(daemon);
    return 0;
  }
  if (pl.h.window_ms == 0) return 0;

  /* Hold nothing of the caller's during the window: no cwd (a mount point
   * it could pin), no plan, no log, no lock file (the pid file is closed
   * already). "/" always exists, so chdir's result says nothing. */
  close(rep[0]);
  close(ND_HELPER_FD_PLAN);
  close(ND_HELPER_FD_LOG);
  if (pl.h.flags & ND_PLAN_HAS_LOCK) close(ND_HELPER_FD_LOCK);
  for (uint32_t i = 0; i < pl.h.nsockets; i++) close(ND_HELPER_FD_SOCKETS + (int)i);
  (void)!chdir("/");
  return window_watch(&pl, daemon, ready[0]) < 0 ? 1 : 0;
}
