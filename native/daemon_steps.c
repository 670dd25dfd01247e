/*
 * The daemon's checklist, one function a step (see daemon_steps.h). Runs
 * between fork and exec: only async-signal-safe calls, nothing allocated.
 */
#define _GNU_SOURCE
#include "daemon_steps.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "protocol.h"
#include "records.h"
#include "retry.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The protocol's signal range is the kernel's: every signal is reset. */
_Static_assert(ND_SIGNAL_LAST == _NSIG - 1, "ND_SIGNAL_LAST is the highest signal");

/* What the steps share in the child, set by daemon_become before any step
 * runs. Zero-initialized (bss): an initializer would put the 256 KiB of
 * gids into the file. */
static struct {
  int rep;       /* the daemon's record pipe; after a handoff, the caller's pipe */
  int own_group; /* a supervised generation leads its own process group (plan.h own_group) */
  struct daemon_handoff handoff; /* {-1, -1}: none */
  /* Static: NGROUPS_MAX + 1 gids would be 256 KiB of stack. */
  gid_t groups_now[NGROUPS_MAX + 1];
} daemon_child;

/* A failed record means the helper is gone, and a daemon whose launch
 * nobody watches must not go on to exec; a failure ends the daemon. */
static void daemon_report(int stage, int sys, int err, int64_t value) {
  if (daemon_send_record(daemon_child.rep, stage, sys, err, value) < 0 || err != 0) _exit(127);
}

/* A failure always carries an errno (EIO if the call somehow gave none). */
static void daemon_fail(int stage, int sys, int err, int64_t value) {
  daemon_report(stage, sys, err != 0 ? err : EIO, value);
}

void daemon_become(const struct plan *pl, pid_t helper, int rep_w, const struct daemon_handoff *handoff, struct nd_fd_move *moves,
                   size_t nmoves) {
  pid_t self = getpid();
  daemon_child.rep = rep_w;
  daemon_child.own_group = pl->own_group;
  daemon_child.handoff = handoff != NULL ? *handoff : (struct daemon_handoff){-1, -1};
  if (pl->listen_pid != NULL) daemon_set_listen_pid(pl->listen_pid, self);
  daemon_close_helper_fds(pl);
  daemon_verify_session(helper, self);
  daemon_set_umask(pl);
  daemon_apply_limits(pl);
  if (pl->h.flags & ND_PLAN_SET_IDS) daemon_drop_privileges(pl);
  if (pl->die_with_parent > 0) daemon_die_with_parent(pl->die_with_parent);
  daemon_enter_cwd(pl);
  daemon_check_entry(pl);
  daemon_setup_fds(moves, nmoves);
  daemon_close_other_fds(daemon_fd_moves_top(moves, nmoves) + 1);
  daemon_reset_signals();
  daemon_exec(pl, self);
}

/* systemd's LISTEN_PID names the process the sockets are for: this one,
 * whose pid exists only now. Written into the slot the plan reserved (a
 * private copy since the fork), in decimal and NUL-terminated; the slot
 * holds ND_LISTEN_PID_DIGITS bytes, more than any pid needs. */
void daemon_set_listen_pid(char *slot, pid_t self) {
  char tmp[ND_LISTEN_PID_DIGITS];
  size_t n = 0, len = 0;
  unsigned long v = (unsigned long)self;
  do tmp[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0 && n < sizeof tmp - 1);
  while (n) slot[len++] = tmp[--n];
  slot[len] = '\0';
}

/* A generation under a supervisor dies with it. PR_SET_PDEATHSIG is
 * cleared by a change of credentials, so this runs after the privilege
 * drop; the parent is checked again after the prctl, since it may have died
 * before it (then we were reparented, and no signal will ever come). */
void daemon_die_with_parent(pid_t parent) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) daemon_fail(ND_STAGE_session, ND_SYS_prctl, errno, parent);
  if (getppid() != parent) daemon_fail(ND_STAGE_session, ND_SYS_prctl, ESRCH, parent);
}

/* The pid file is the helper's to write: the daemon (and whatever it
 * execs, as whatever user) must never hold a descriptor of it. And the
 * caller's pipe at fd 4 is the helper's: its EOF must mean that the helper
 * is gone, whatever the daemon is doing. (A handoff gives the daemon a
 * close-on-exec copy of its own, for its execve's failure: that EOF then
 * waits for the execve too.) */
void daemon_close_helper_fds(const struct plan *pl) {
  if (pl->h.flags & ND_PLAN_HAS_PIDFILE) close(ND_HELPER_FD_PIDFILE);
  close(ND_HELPER_FD_STATUS);
}

/* In the helper's new session, and not its leader, so that opening a
 * terminal can never make one the daemon's controlling tty. Its group is
 * the session's, or, for a supervised generation, its own (set by the
 * supervisor right after the fork). */
void daemon_verify_session(pid_t helper, pid_t self) {
  pid_t sid = getsid(0);
  if (sid < 0) daemon_fail(ND_STAGE_session, 0, errno, -1);
  if (sid != helper || sid == self) daemon_report(ND_STAGE_session, 0, ND_EVERIFY, sid);
  pid_t pgid = getpgid(0);
  if (pgid != (daemon_child.own_group ? self : sid)) daemon_report(ND_STAGE_session, ND_SYS_getpgid, ND_EVERIFY, pgid);
  daemon_report(ND_STAGE_session, 0, 0, sid);
}

void daemon_set_umask(const struct plan *pl) {
  umask((mode_t)pl->h.umask);
  daemon_report(ND_STAGE_umask, 0, 0, pl->h.umask);
}

static int daemon_set_limit(int resource, uint64_t value) {
  struct rlimit rl;
  rl.rlim_cur = rl.rlim_max = (rlim_t)value;
  return setrlimit(resource, &rl);
}

/* Limits go before the uid change: an unprivileged process cannot raise a
 * hard limit. Soft and hard both, since Node raises its soft NOFILE limit
 * to the hard one at start-up. */
void daemon_apply_limits(const struct plan *pl) {
  if ((pl->h.flags & ND_PLAN_SET_CORE) && daemon_set_limit(RLIMIT_CORE, pl->h.core) < 0)
    daemon_fail(ND_STAGE_rlimit, 0, errno, RLIMIT_CORE);
  if ((pl->h.flags & ND_PLAN_SET_NOFILE) && daemon_set_limit(RLIMIT_NOFILE, pl->h.nofile) < 0)
    daemon_fail(ND_STAGE_rlimit, 0, errno, RLIMIT_NOFILE);
  if (pl->h.flags & (ND_PLAN_SET_CORE | ND_PLAN_SET_NOFILE)) daemon_report(ND_STAGE_rlimit, 0, 0, 0);
}

static int daemon_groups_match(const struct plan *pl) {
  /* Sized by asking first: a size above NGROUPS_MAX is EINVAL under
   * qemu-user, and none is needed (the kernel allows NGROUPS_MAX at most). */
  int n = getgroups(0, NULL);
  if (n >= 0 && n <= NGROUPS_MAX) n = getgroups(n, daemon_child.groups_now);
  if (n < 0 || (uint32_t)n != pl->h.ngroups) return 0;
  for (int i = 0; i < n; i++) {
    int found = 0;
    for (uint32_t j = 0; j < pl->h.ngroups; j++)
      if (daemon_child.groups_now[i] == pl->groups[j]) found = 1;
    if (!found) return 0;
  }
  return 1;
}

/* After setuid away from root: setuid() empties the permitted, effective
 * and ambient sets but not the inheritable one, which an exec of a file
 * with inheritable file capabilities could turn back into privilege. Drop
 * it (lowering is always allowed), and the ambient set for good measure.
 * Returns 0, or the ND_SYS_* id of the call that failed (errno set). */
static int daemon_clear_inheritable_capabilities(void) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capget, &hdr, data) < 0) return ND_SYS_capget;
  data[0].inheritable = data[1].inheritable = 0;
  if (syscall(SYS_capset, &hdr, data) < 0) return ND_SYS_capset;
#ifdef PR_CAP_AMBIENT
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return ND_SYS_prctl;
#endif
  return 0;
}

/* A process that is not root must hold no capability either: with
 * SECBIT_NO_SETUID_FIXUP some survive setuid, and that is refused.
 * Returns 1 when empty, 0 when not, -1 (errno set) when capget failed. */
static int daemon_capabilities_empty(void) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capget, &hdr, data) < 0) return -1;
  for (int i = 0; i < 2; i++)
    if (data[i].permitted || data[i].effective || data[i].inheritable) return 0;
  return 1;
}

/* setgroups -> setgid -> setuid: groups and gid need privilege, so uid goes
 * last. Then check every id, and that root cannot be regained. */
void daemon_drop_privileges(const struct plan *pl) {
  uid_t uid = (uid_t)pl->h.uid;
  gid_t gid = (gid_t)pl->h.gid;
  if (setgroups(pl->h.ngroups, pl->groups) < 0) daemon_fail(ND_STAGE_setgroups, 0, errno, pl->h.ngroups);
  if (setgid(gid) < 0) daemon_fail(ND_STAGE_setgid, 0, errno, gid);
  if (setuid(uid) < 0) daemon_fail(ND_STAGE_setuid, 0, errno, uid);

  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) < 0) daemon_fail(ND_STAGE_credentials, ND_SYS_getresuid, errno, 0);
  if (ru != uid || eu != uid || su != uid) daemon_report(ND_STAGE_credentials, ND_SYS_getresuid, ND_EVERIFY, eu);
  if (getresgid(&rg, &eg, &sg) < 0) daemon_fail(ND_STAGE_credentials, ND_SYS_getresgid, errno, 0);
  if (rg != gid || eg != gid || sg != gid) daemon_report(ND_STAGE_credentials, ND_SYS_getresgid, ND_EVERIFY, eg);
  if (!daemon_groups_match(pl)) daemon_report(ND_STAGE_credentials, ND_SYS_getgroups, ND_EVERIFY, -1);
  if (uid != 0) {
    if (setuid(0) == 0) daemon_report(ND_STAGE_credentials, 0, ND_EVERIFY, 0);
    int failed_call = daemon_clear_inheritable_capabilities();
    if (failed_call) daemon_fail(ND_STAGE_credentials, failed_call, errno, 0);
    int caps = daemon_capabilities_empty();
    if (caps < 0) daemon_fail(ND_STAGE_credentials, ND_SYS_capget, errno, 0);
    if (caps == 0) daemon_report(ND_STAGE_credentials, ND_SYS_capget, ND_EVERIFY, uid);
  }
  daemon_report(ND_STAGE_credentials, 0, 0, uid);
}

/* After the ids: cwd and entry are checked as the user the program will
 * run as. */
void daemon_enter_cwd(const struct plan *pl) {
  if (RETRY(chdir(pl->cwd)) < 0) daemon_fail(ND_STAGE_chdir, 0, errno, 0);
  daemon_report(ND_STAGE_chdir, 0, 0, 0);
}

/* The entry and the preload, read as the daemon's own user: the caller's
 * checks (perhaps as root) prove nothing about that. O_NONBLOCK: a FIFO
 * planted there must not hang the launch. */
void daemon_check_entry(const struct plan *pl) {
  for (uint32_t i = 0; i < pl->h.nchecks; i++) {
    int fd = RETRY(open(pl->checks[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd < 0) daemon_fail(ND_STAGE_entry, 0, errno, i);
    struct stat st;
    if (RETRY(fstat(fd, &st)) < 0) daemon_fail(ND_STAGE_entry, ND_SYS_fstat, errno, i);
    close(fd);
    if (S_ISDIR(st.st_mode)) daemon_fail(ND_STAGE_entry, ND_SYS_fstat, EISDIR, i);
    if (!S_ISREG(st.st_mode)) daemon_fail(ND_STAGE_entry, ND_SYS_fstat, EINVAL, i);
  }
  if (pl->h.nchecks > 0) daemon_report(ND_STAGE_entry, 0, 0, pl->h.nchecks);
}

int daemon_apply_fd_moves(struct nd_fd_move *moves, size_t n, size_t *failed) {
  int err = daemon_fd_moves_lift(moves, n, failed);
  if (err) return err;
  for (size_t i = 0; i < n; i++) {
    const struct nd_fd_move *m = &moves[i];
    int r;
    if (m->from == ND_FD_CLOSE) {
      r = close(m->to) < 0 && errno != EBADF ? -1 : 0; /* EBADF: already empty */
    } else { /* never from == to: every such source was copied up */
      r = (int)RETRY(dup2(m->from, m->to)); /* clears close-on-exec: survives exec */
    }
    if (r < 0) {
      *failed = i;
      return errno;
    }
  }
  return 0;
}

/* stdin, stdout/stderr, the lock file and the ready pipe (plan.c). */
void daemon_setup_fds(struct nd_fd_move *moves, size_t n) {
  size_t failed = 0;
  int err = daemon_apply_fd_moves(moves, n, &failed);
  if (err) daemon_fail(ND_STAGE_stdio, 0, err, moves[failed].to);
  daemon_report(ND_STAGE_stdio, 0, 0, 0);
}

int daemon_cloexec_from(unsigned int first) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return 0;
  if (errno != ENOSYS && errno != EINVAL) return errno;
#endif
  /* Kernels before 5.11: mark each possible fd, bounded by the hard limit. */
  struct rlimit rl;
  long max = 65536;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 1048576)
    max = (long)rl.rlim_max;
  for (long fd = first; fd < max; fd++) (void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
  return 0;
}

/* Everything above the layout (the moves' sources and copies, pipes,
 * anything a caller leaked past the helper's own clean-up) closes at exec.
 * Close-on-exec rather than close: the record pipe must stay open until
 * the exec succeeds, and its EOF is how the helper learns that it did. */
void daemon_close_other_fds(int first) {
  int err = daemon_cloexec_from((unsigned int)first);
  if (err) daemon_fail(ND_STAGE_fds, 0, err, 0);
  daemon_report(ND_STAGE_fds, 0, 0, 0);
}

/* glibc's sigaction() refuses its reserved signals, while its posix_spawn
 * leaves them SIG_IGN in the helper (the caller had handlers there), and
 * SIG_IGN survives exec. So set them back to SIG_DFL with the raw syscall.
 * An all-zero kernel sigaction is SIG_DFL, no flags, empty mask, whatever
 * the architecture's layout. Safe here: this process is single-threaded
 * and about to exec. Returns 0 or the signal that failed. */
static int daemon_reset_raw(int sig) {
  unsigned long k[8];
  memset(k, 0, sizeof k);
  return syscall(SYS_rt_sigaction, sig, k, NULL, (size_t)(_NSIG / 8)) < 0 ? -1 : 0;
}

static int daemon_reset_reserved_signals(void) {
  for (int sig = ND_SIGNAL_GLIBC_RESERVED_FIRST; sig <= ND_SIGNAL_GLIBC_RESERVED_LAST; sig++)
    if (daemon_reset_raw(sig) < 0) return sig;
  return 0;
}

/* Every disposition back to default, real-time signals included (glibc's
 * reserved ones through the raw syscall). The mask is emptied in
 * daemon_exec, right before execve. */
void daemon_reset_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig <= ND_SIGNAL_LAST; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (sig >= ND_SIGNAL_GLIBC_RESERVED_FIRST && sig <= ND_SIGNAL_GLIBC_RESERVED_LAST) continue;
    if (sigaction(sig, &sa, NULL) == 0) continue;
    /* musl refuses its own reserved signals (32 to 34) as glibc does 32
     * and 33: the raw syscall resets them too. */
    if (errno != EINVAL || daemon_reset_raw(sig) < 0) daemon_fail(ND_STAGE_signals, errno == EINVAL ? ND_SYS_rt_sigaction : 0, errno, sig);
  }
  int bad = daemon_reset_reserved_signals();
  if (bad) daemon_fail(ND_STAGE_signals, ND_SYS_rt_sigaction, errno, bad);
  daemon_report(ND_STAGE_signals, 0, 0, 0);
}

/* A dry run stops where execve would run: what execve refuses for a
 * missing, non-regular or non-executable file is found without exec'ing.
 * access() asks with the real ids, which are the daemon's own by now
 * (setuid set all three). The helper reaps this process. */
static void daemon_dry_run_exec(const struct plan *pl, pid_t self) {
  struct stat st;
  if (RETRY(stat(pl->exec_path, &st)) < 0) daemon_fail(ND_STAGE_exec, 0, errno, self);
  if (!S_ISREG(st.st_mode)) daemon_fail(ND_STAGE_exec, 0, EACCES, self);
  if (RETRY(access(pl->exec_path, X_OK)) < 0) daemon_fail(ND_STAGE_exec, 0, errno, self);
  daemon_report(ND_STAGE_exec, 0, 0, self);
  _exit(0);
}

/* Bytes the helper has not read from the record pipe yet, or -1. */
static int daemon_records_queued(int rep) {
  int queued = -1;
  return ioctl(rep, FIONREAD, &queued) < 0 ? -1 : queued;
}

/* The handoff (daemon_steps.h): "exec" is written; the helper that
 * forwards it is to be done before the execve. Why: it sleeps on the
 * record pipe, and a pipe's wake-up lands it on the waker's CPU, this one,
 * where Node's start-up after the execve would hold it off for a scheduler
 * tick or more while the caller waits for it. So first yield this CPU: the
 * helper, woken here, reads "exec", forwards it and exits. Once it has read
 * every record, exec; else (it runs elsewhere, or late) wait for it to be
 * gone, its exit seen on its pidfd or, without one, its end of the record
 * pipe closed. A helper gone before it read every record died mid-launch
 * (the caller sees that, and empties the session): no exec. A wait that
 * fails or runs out is reported to the caller, whose pipe takes every
 * record from here on (an execve failure too). */
static void daemon_await_helper(void) {
  struct daemon_handoff *h = &daemon_child.handoff;
  int rep = daemon_child.rep;
  daemon_child.rep = h->caller;
  sched_yield();
  if (daemon_records_queued(rep) != 0) {
    struct pollfd p = {h->helper_exit >= 0 ? h->helper_exit : rep, h->helper_exit >= 0 ? POLLIN : 0, 0};
    int n = (int)RETRY(poll(&p, 1, ND_EXEC_DEADLINE_MS));
    if (n == 0) daemon_fail(ND_STAGE_exec, 0, ND_ETIMEOUT, ND_EXEC_DEADLINE_MS);
    if (n < 0) daemon_fail(ND_STAGE_exec, 0, errno, 0);
    int queued = daemon_records_queued(rep);
    if (queued > 0) _exit(127);
    if (queued < 0) daemon_fail(ND_STAGE_exec, 0, ND_EHELPER, 0);
  }
  close(rep);
  if (h->helper_exit >= 0) close(h->helper_exit);
}

/* "exec" is the last record before execve. If the helper is gone now, the
 * daemon exits here; from here on SIGPIPE is default again, so nothing
 * else may be written before exec except the failure below. */
void daemon_exec(const struct plan *pl, pid_t self) {
  if (pl->h.flags & ND_PLAN_DRY_RUN) daemon_dry_run_exec(pl, self);
  daemon_report(ND_STAGE_exec, 0, 0, self);
  if (daemon_child.handoff.caller >= 0) daemon_await_helper();
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) daemon_fail(ND_STAGE_signals, ND_SYS_sigprocmask, errno, 0);
  execve(pl->exec_path, pl->argv, pl->envp);
  daemon_fail(ND_STAGE_exec, 0, errno, self);
  _exit(127); /* not reached: a failure record ends the process */
}
