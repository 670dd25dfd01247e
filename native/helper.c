/*
 * node-daemonize-helper: the double fork that Node cannot do in-process.
 *
 * Started by the addon with posix_spawn, an empty environment, default
 * signal dispositions and an empty mask, and this fd layout (protocol.h):
 *   0,1,2 /dev/null   3 the plan (memfd)   4 status pipe (write end)
 *   5 the daemon's log   6 the locked lock file (optional)
 *   7 the pid file (optional; the helper's alone, never the daemon's)
 *
 * It is an ordinary single-threaded program, so everything it does is safe;
 * still, the daemon's path after fork() allocates nothing and looks nothing
 * up, so that it would stay correct if this code ever moved into a fork of a
 * threaded process.
 *
 *   helper: read plan, setsid(), verify it leads a new session, fork(),
 *           write the daemon's pid into the pid file and close it.
 *   daemon: close its copy of the pid file at once, verify it is in the
 *           helper's session but does not lead it, umask, rlimits,
 *           setgroups/setgid/setuid (verified), chdir, check the entry,
 *           stdio (the lock file stays as fd 3), close every other fd,
 *           reset signals, execve.
 *   helper: forward the daemon's records to the caller, then watch the
 *           start-up window (READY, exit or timeout), report, exit.
 *
 * The pid file is written by the helper, not by the daemon: a daemon that
 * held a writable descriptor of the file naming it (and runs as the
 * service user) could write any pid or gigabytes into it and mislead or
 * stall root's stop and status.
 *
 * Every record is one write(2) of a struct nd_record. Only the helper
 * writes to the caller's pipe: the daemon's records go through it, so they
 * arrive in order, and the caller's EOF means the helper is gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The longest the daemon may take from fork to exec (a hung NFS chdir, a
 * FIFO planted as the entry): then it is killed and the launch fails. */
#define ND_EXEC_DEADLINE_MS 30000

/* Retry a syscall that returns -1 with EINTR. */
#define RETRY(expr)                          \
  ({                                         \
    long nd_r_;                              \
    do nd_r_ = (long)(expr);                 \
    while (nd_r_ == -1 && errno == EINTR);   \
    nd_r_;                                   \
  })

struct plan {
  struct nd_plan_header h;
  gid_t *groups;
  const char *cwd;
  const char *exec_path;
  char **checks;
  char **argv;
  char **envp;
};

/* ---------------------------------------------------------------- records */

/* One record, one write: 16 bytes on a pipe are never torn. Returns -1
 * when the reader is gone (EPIPE: SIGPIPE is ignored in the helper). */
static int send_record(int fd, int stage, int sys, int err, int64_t value) {
  struct nd_record r;
  memset(&r, 0, sizeof r);
  r.stage = (uint16_t)stage;
  r.syscall = (uint16_t)sys;
  r.err = err;
  r.value = value;
  return RETRY(write(fd, &r, sizeof r)) == (ssize_t)sizeof r ? 0 : -1;
}

/* The helper reports to the caller; if the caller is gone it still
 * finishes its job, so the result is ignored. */
static void report(int stage, int sys, int err, int64_t value) {
  (void)send_record(ND_HELPER_FD_STATUS, stage, sys, err, value);
}

/* ------------------------------------------------------------------- plan */

static int read_all(int fd, char *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = RETRY(pread(fd, buf + off, len - off, (off_t)off));
    if (n < 0) return errno;
    if (n == 0) return EIO;
    off += (size_t)n;
  }
  return 0;
}

/* Split count NUL-terminated strings starting at *p (bounded by end). */
static int take_strings(char **p, char *end, char **out, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) {
    char *nul = memchr(*p, '\0', (size_t)(end - *p));
    if (nul == NULL) return -1;
    out[i] = *p;
    *p = nul + 1;
  }
  return 0;
}

/* Returns 0, an errno, or ND_EPLAN for a malformed plan. */
static int load_plan(struct plan *pl) {
  struct stat st;
  if (RETRY(fstat(ND_HELPER_FD_PLAN, &st)) < 0) return errno;
  if (st.st_size < (off_t)sizeof pl->h) return ND_EPLAN;
  char *buf = malloc((size_t)st.st_size);
  if (buf == NULL) return ENOMEM;
  int err = read_all(ND_HELPER_FD_PLAN, buf, (size_t)st.st_size);
  if (err) return err;

  memcpy(&pl->h, buf, sizeof pl->h);
  const struct nd_plan_header *h = &pl->h;
  if (h->magic != ND_PLAN_MAGIC || h->version != ND_PLAN_VERSION) return ND_EPLAN;
  if (h->argc < 1 || h->ngroups > NGROUPS_MAX) return ND_EPLAN;
  size_t groups_len = (size_t)h->ngroups * sizeof(int64_t);
  if ((uint64_t)st.st_size != sizeof *h + groups_len + h->strings_len) return ND_EPLAN;

  pl->groups = calloc(h->ngroups + 1, sizeof(gid_t));
  pl->checks = calloc((size_t)h->nchecks + 1, sizeof(char *));
  pl->argv = calloc((size_t)h->argc + 1, sizeof(char *));
  pl->envp = calloc((size_t)h->envc + 1, sizeof(char *));
  if (!pl->groups || !pl->checks || !pl->argv || !pl->envp) return ENOMEM;
  for (uint32_t i = 0; i < h->ngroups; i++) {
    int64_t g;
    memcpy(&g, buf + sizeof *h + i * sizeof g, sizeof g);
    pl->groups[i] = (gid_t)g;
  }

  char *p = buf + sizeof *h + groups_len;
  char *end = buf + st.st_size;
  char *fixed[2];
  if (take_strings(&p, end, fixed, 2) < 0) return ND_EPLAN;
  if (take_strings(&p, end, pl->checks, h->nchecks) < 0) return ND_EPLAN;
  if (take_strings(&p, end, pl->argv, h->argc) < 0) return ND_EPLAN;
  if (take_strings(&p, end, pl->envp, h->envc) < 0) return ND_EPLAN;
  if (p != end) return ND_EPLAN;
  pl->cwd = fixed[0];
  pl->exec_path = fixed[1];
  if (pl->cwd[0] == '\0' || pl->exec_path[0] == '\0') return ND_EPLAN;
  return 0;
}

/* --------------------------------------------------------------- daemon side
 * Only async-signal-safe calls from here to execve; nothing allocated. */

/* The daemon's record pipe; a failed record means the helper is gone, and
 * a daemon whose launch nobody watches must not go on to exec. */
static int daemon_rep = -1;

static void daemon_report(int stage, int sys, int err, int64_t value) {
  if (send_record(daemon_rep, stage, sys, err, value) < 0 || err != 0) _exit(127);
}

/* A failure always carries an errno (EIO if the call somehow gave none). */
static void daemon_fail(int stage, int sys, int err, int64_t value) { daemon_report(stage, sys, err != 0 ? err : EIO, value); }
#define DAEMON_FAIL(stage, sys, err, value) daemon_fail((stage), (sys), (err), (value))

static int set_cloexec_from(unsigned int first) {
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

/* The pid, in decimal, with a newline; no stdio after fork. */
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

/* Static: NGROUPS_MAX + 1 gids would be 256 KiB of stack. */
static gid_t groups_now[NGROUPS_MAX + 1];

static int groups_match(const struct plan *pl) {
  int n = getgroups(NGROUPS_MAX + 1, groups_now);
  if (n < 0 || (uint32_t)n != pl->h.ngroups) return 0;
  for (int i = 0; i < n; i++) {
    int found = 0;
    for (uint32_t j = 0; j < pl->h.ngroups; j++)
      if (groups_now[i] == pl->groups[j]) found = 1;
    if (!found) return 0;
  }
  return 1;
}

/* After setuid away from root: setuid() empties the permitted, effective
 * and ambient sets but not the inheritable one, which an exec of a file
 * with inheritable file capabilities could turn back into privilege. Drop
 * it (lowering is always allowed), and the ambient set for good measure.
 * Returns 0, or the ND_SYS_* id of the call that failed (errno set). */
static int clear_inheritable_capabilities(void) {
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
 * SECBIT_NO_SETUID_FIXUP some survive setuid, and that is refused. */
static int capabilities_empty(void) {
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
static void drop_privileges(const struct plan *pl) {
  uid_t uid = (uid_t)pl->h.uid;
  gid_t gid = (gid_t)pl->h.gid;
  if (setgroups(pl->h.ngroups, pl->groups) < 0) DAEMON_FAIL(ND_STAGE_setgroups, 0, errno, pl->h.ngroups);
  if (setgid(gid) < 0) DAEMON_FAIL(ND_STAGE_setgid, 0, errno, gid);
  if (setuid(uid) < 0) DAEMON_FAIL(ND_STAGE_setuid, 0, errno, uid);

  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) < 0) DAEMON_FAIL(ND_STAGE_credentials, ND_SYS_getresuid, errno, 0);
  if (ru != uid || eu != uid || su != uid) daemon_report(ND_STAGE_credentials, ND_SYS_getresuid, ND_EVERIFY, eu);
  if (getresgid(&rg, &eg, &sg) < 0) DAEMON_FAIL(ND_STAGE_credentials, ND_SYS_getresgid, errno, 0);
  if (rg != gid || eg != gid || sg != gid) daemon_report(ND_STAGE_credentials, ND_SYS_getresgid, ND_EVERIFY, eg);
  if (!groups_match(pl)) daemon_report(ND_STAGE_credentials, ND_SYS_getgroups, ND_EVERIFY, -1);
  if (uid != 0) {
    if (setuid(0) == 0) daemon_report(ND_STAGE_credentials, 0, ND_EVERIFY, 0);
    int failed_call = clear_inheritable_capabilities();
    if (failed_call) DAEMON_FAIL(ND_STAGE_credentials, failed_call, errno, 0);
    int caps = capabilities_empty();
    if (caps < 0) DAEMON_FAIL(ND_STAGE_credentials, ND_SYS_capget, errno, 0);
    if (caps == 0) daemon_report(ND_STAGE_credentials, ND_SYS_capget, ND_EVERIFY, uid);
  }
  daemon_report(ND_STAGE_credentials, 0, 0, uid);
}

static int set_limit(int resource, uint64_t value) {
  struct rlimit rl;
  rl.rlim_cur = rl.rlim_max = (rlim_t)value;
  return setrlimit(resource, &rl);
}

/* glibc reserves 32 and 33 for itself and its sigaction() refuses them,
 * while its posix_spawn leaves them SIG_IGN in the helper (the caller had
 * handlers there), and SIG_IGN survives exec. So set them back to SIG_DFL
 * with the raw syscall. An all-zero kernel sigaction is SIG_DFL, no flags,
 * empty mask, whatever the architecture's layout. Safe here: this process
 * is single-threaded and about to exec. */
static int reset_reserved_signals(void) {
  unsigned long k[8];
  memset(k, 0, sizeof k);
  for (int sig = 32; sig <= 33; sig++)
    if (syscall(SYS_rt_sigaction, sig, k, NULL, (size_t)(_NSIG / 8)) < 0) return sig;
  return 0;
}

/* A dry run stops where execve would run: what execve refuses for a
 * missing, non-regular or non-executable file is found without exec'ing.
 * access() asks with the real ids, which are the daemon's own by now
 * (setuid set all three). The helper reaps this process. */
static void dry_run_exec(const struct plan *pl, pid_t self) {
  struct stat st;
  if (RETRY(stat(pl->exec_path, &st)) < 0) DAEMON_FAIL(ND_STAGE_exec, 0, errno, self);
  if (!S_ISREG(st.st_mode)) DAEMON_FAIL(ND_STAGE_exec, 0, EACCES, self);
  if (RETRY(access(pl->exec_path, X_OK)) < 0) DAEMON_FAIL(ND_STAGE_exec, 0, errno, self);
  daemon_report(ND_STAGE_exec, 0, 0, self);
  _exit(0);
}

/* Runs in the daemon; never returns. ready_w: write end of the ready pipe
 * or -1. */
static void become_daemon(const struct plan *pl, pid_t helper, int ready_w) {
  pid_t self = getpid();

  /* The pid file is the helper's to write: the daemon (and whatever it
   * execs, as whatever user) must never hold a descriptor of it. */
  if (pl->h.flags & ND_PLAN_HAS_PIDFILE) close(ND_HELPER_FD_PIDFILE);

  /* Only the helper may hold the caller's pipe: its EOF must mean that the
   * helper is gone, whatever the daemon is doing. */
  close(ND_HELPER_FD_STATUS);

  /* Verify: in the helper's new session, and not its leader, so that
   * opening a terminal can never make one our controlling tty. */
  pid_t sid = getsid(0);
  if (sid < 0) DAEMON_FAIL(ND_STAGE_session, 0, errno, -1);
  if (sid != helper || sid == self) daemon_report(ND_STAGE_session, 0, ND_EVERIFY, sid);
  pid_t pgid = getpgid(0);
  if (pgid != sid) daemon_report(ND_STAGE_session, ND_SYS_getpgid, ND_EVERIFY, pgid);
  daemon_report(ND_STAGE_session, 0, 0, sid);

  umask((mode_t)pl->h.umask);
  daemon_report(ND_STAGE_umask, 0, 0, pl->h.umask);

  /* Limits go before the uid change: an unprivileged process cannot raise
   * a hard limit. Soft and hard both, since Node raises its soft NOFILE
   * limit to the hard one at start-up. */
  if ((pl->h.flags & ND_PLAN_SET_CORE) && set_limit(RLIMIT_CORE, pl->h.core) < 0)
    DAEMON_FAIL(ND_STAGE_rlimit, 0, errno, RLIMIT_CORE);
  if ((pl->h.flags & ND_PLAN_SET_NOFILE) && set_limit(RLIMIT_NOFILE, pl->h.nofile) < 0)
    DAEMON_FAIL(ND_STAGE_rlimit, 0, errno, RLIMIT_NOFILE);
  if (pl->h.flags & (ND_PLAN_SET_CORE | ND_PLAN_SET_NOFILE)) daemon_report(ND_STAGE_rlimit, 0, 0, 0);

  if (pl->h.flags & ND_PLAN_SET_IDS) drop_privileges(pl);

  /* cwd and entry are checked as the user the program will run as. */
  if (RETRY(chdir(pl->cwd)) < 0) DAEMON_FAIL(ND_STAGE_chdir, 0, errno, 0);
  daemon_report(ND_STAGE_chdir, 0, 0, 0);

  /* The entry and the preload, read as the daemon's own user: the caller's
   * checks (perhaps as root) prove nothing about that. O_NONBLOCK: a FIFO
   * planted there must not hang the launch. */
  for (uint32_t i = 0; i < pl->h.nchecks; i++) {
    int fd = RETRY(open(pl->checks[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd < 0) DAEMON_FAIL(ND_STAGE_entry, 0, errno, i);
    struct stat st;
    if (RETRY(fstat(fd, &st)) < 0) DAEMON_FAIL(ND_STAGE_entry, ND_SYS_fstat, errno, i);
    close(fd);
    if (S_ISDIR(st.st_mode)) DAEMON_FAIL(ND_STAGE_entry, ND_SYS_fstat, EISDIR, i);
    if (!S_ISREG(st.st_mode)) DAEMON_FAIL(ND_STAGE_entry, ND_SYS_fstat, EINVAL, i);
  }
  if (pl->h.nchecks > 0) daemon_report(ND_STAGE_entry, 0, 0, pl->h.nchecks);

  /* Targets are 1..4; every source is >= 5, so no dup2 clobbers a source.
   * fd 0 is already /dev/null (the helper's own stdin). dup2 clears
   * close-on-exec, which is what makes these survive the exec. */
  if (RETRY(dup2(ND_HELPER_FD_LOG, 1)) < 0 || RETRY(dup2(ND_HELPER_FD_LOG, 2)) < 0)
    DAEMON_FAIL(ND_STAGE_stdio, 0, errno, 1);
  if (pl->h.flags & ND_PLAN_HAS_LOCK) {
    if (RETRY(dup2(ND_HELPER_FD_LOCK, ND_DAEMON_FD_LOCK)) < 0) DAEMON_FAIL(ND_STAGE_stdio, 0, errno, ND_DAEMON_FD_LOCK);
  } else {
    close(ND_DAEMON_FD_LOCK); /* the plan memfd */
  }
  if (ready_w >= 0) {
    if (RETRY(dup2(ready_w, ND_DAEMON_FD_READY)) < 0) DAEMON_FAIL(ND_STAGE_stdio, 0, errno, ND_DAEMON_FD_READY);
  }
  daemon_report(ND_STAGE_stdio, 0, 0, 0);

  /* Everything from 5 up (log and lock sources, pipes, anything a caller
   * leaked past the helper's own clean-up) closes at exec. Close-on-exec
   * rather than close: the record pipe must stay open until the exec
   * succeeds, and its EOF is how the helper learns that it did. */
  int err = set_cloexec_from(ND_DAEMON_FD_READY + 1);
  if (err) DAEMON_FAIL(ND_STAGE_fds, 0, err, 0);
  daemon_report(ND_STAGE_fds, 0, 0, 0);

  /* Every disposition back to default, real-time signals included (glibc's
   * reserved 32 and 33 through the raw syscall). Then an empty mask, right
   * before exec. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < _NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP || sig == 32 || sig == 33) continue;
    if (sigaction(sig, &sa, NULL) < 0 && errno != EINVAL) DAEMON_FAIL(ND_STAGE_signals, 0, errno, sig);
  }
  int bad = reset_reserved_signals();
  if (bad) DAEMON_FAIL(ND_STAGE_signals, ND_SYS_rt_sigaction, errno, bad);
  daemon_report(ND_STAGE_signals, 0, 0, 0);

  /* The last record before exec. If the helper is gone now, it exits here;
   * from here on, SIGPIPE is default again, so nothing else may be written
   * before exec except the failure below. */
  if (pl->h.flags & ND_PLAN_DRY_RUN) dry_run_exec(pl, self);
  daemon_report(ND_STAGE_exec, 0, 0, self);
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) DAEMON_FAIL(ND_STAGE_signals, ND_SYS_sigprocmask, errno, 0);
  execve(pl->exec_path, pl->argv, pl->envp);
  DAEMON_FAIL(ND_STAGE_exec, 0, errno, self);
}

/* ---------------------------------------------------------------- helper */

/* Write the daemon's pid (decimal, newline) into the pid file the caller
 * truncated under the lock (empty means "starting"). Returns 0 or an errno. */
static int write_pid_file(pid_t daemon) {
  char buf[24];
  size_t len = format_pid(buf, daemon);
  ssize_t n = RETRY(pwrite(ND_HELPER_FD_PIDFILE, buf, len, 0));
  if (n < 0) return errno != 0 ? errno : EIO;
  return n == (ssize_t)len ? 0 : EIO; /* a short write: a full disk */
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int poll_timeout(int64_t left) { return left > INT_MAX ? INT_MAX : left < 0 ? 0 : (int)left; }

/* Returns the wait status, or -1 (with errno) when waitpid fails. */
static int reap(pid_t pid) {
  int status = 0;
  if (RETRY(waitpid(pid, &status, 0)) < 0) return -1;
  return status;
}

static int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

/* The daemon is still our unreaped child, so its pid cannot be reused. */
static void kill_and_reap(pid_t daemon) {
  kill(daemon, SIGKILL);
  reap(daemon);
}

/* Kill and reap every process left under the helper: as a subreaper it
 * inherits whatever the daemon started before it died or was killed. */
static void kill_descendants(void) {
  for (;;) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    int fd = RETRY(open(path, O_RDONLY | O_CLOEXEC));
    ssize_t n = fd < 0 ? -1 : RETRY(read(fd, buf, sizeof buf - 1));
    if (fd >= 0) close(fd);
    if (n > 0) {
      buf[n] = '\0';
      for (char *p = buf; *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p) break;
        if (pid > 0) kill((pid_t)pid, SIGKILL);
        p = end;
      }
    }
    if (RETRY(waitpid(-1, NULL, 0)) < 0) return; /* ECHILD: none left */
  }
}

static void fail_window(int stage, pid_t daemon, int status) {
  report(stage, 0, ND_EEXITED, status);
  (void)daemon;
  kill_descendants();
}

/* Forward the daemon's records until EOF (exec succeeded, or it died), for
 * at most ND_EXEC_DEADLINE_MS. Returns 0 when the last record was a
 * successful "exec". */
static int forward_until_exec(int rep_r, pid_t daemon) {
  struct nd_record r;
  int exec_ok = 0, failed = 0;
  int64_t deadline = now_ms() + ND_EXEC_DEADLINE_MS;
  for (;;) {
    struct pollfd p = {rep_r, POLLIN, 0};
    int n = (int)RETRY(poll(&p, 1, poll_timeout(deadline - now_ms())));
    if (n == 0) {
      kill_and_reap(daemon);
      report(ND_STAGE_exec, ND_SYS_default, ND_ETIMEOUT, ND_EXEC_DEADLINE_MS);
      return -1;
    }
    ssize_t got = RETRY(read(rep_r, &r, sizeof r));
    if (got != (ssize_t)sizeof r) break; /* EOF (a partial record cannot happen) */
    report(r.stage, r.syscall, r.err, r.value);
    if (r.err != 0) failed = 1;
    else if (r.stage == ND_STAGE_exec) exec_ok = 1;
    /* "exec" ok then another record: the execve itself failed. */
    if (r.err != 0 && r.stage == ND_STAGE_exec) exec_ok = 0;
  }
  if (failed || !exec_ok) {
    int status = reap(daemon);
    /* Died without a failure record: killed by a signal before exec. */
    if (!failed) report(ND_STAGE_exec, ND_SYS_default, status < 0 ? ND_EHELPER : ND_EEXITED, status);
    return -1;
  }
  return 0;
}

/* Watch the start-up window. stage: ready (waiting for READY) or running
 * (a grace period). Returns 0 on success. */
static int watch_window(const struct plan *pl, pid_t daemon, int ready_r) {
  int stage = ready_r >= 0 ? ND_STAGE_ready : ND_STAGE_running;
  int pidfd = open_pidfd(daemon);
  int64_t deadline = now_ms() + pl->h.window_ms;
  /* A window of text: READY=1 may arrive split across reads. */
  char buf[64];
  size_t got = 0;

  for (;;) {
    int64_t left = deadline - now_ms();
    struct pollfd fds[2];
    nfds_t nfds = 0;
    int pid_i = -1, ready_i = -1;
    if (pidfd >= 0) {
      fds[nfds].fd = pidfd;
      fds[nfds].events = POLLIN;
      pid_i = (int)nfds++;
    }
    if (ready_r >= 0) {
      fds[nfds].fd = ready_r;
      fds[nfds].events = POLLIN;
      ready_i = (int)nfds++;
    }
    /* Without a pidfd (old kernel), poll in short slices and ask waitpid.
     * At the deadline, one last look (timeout 0) so that a READY written
     * just in time is not lost. */
    int slice = pidfd >= 0 ? poll_timeout(left) : poll_timeout(left < 10 ? left : 10);
    int n = poll(fds, nfds, slice);
    if (n < 0 && errno != EINTR) {
      report(stage, ND_SYS_default, errno, 0);
      kill_and_reap(daemon);
      kill_descendants();
      return -1;
    }
    if (ready_i >= 0 && n > 0 && fds[ready_i].revents) {
      ssize_t r = RETRY(read(ready_r, buf + got, sizeof buf - 1 - got));
      if (r > 0) {
        got += (size_t)r;
        buf[got] = '\0';
        if (strstr(buf, "READY=1") != NULL) {
          report(ND_STAGE_ready, 0, 0, daemon);
          return 0;
        }
        if (got > 8) { /* keep a tail that may hold the start of READY=1 */
          memmove(buf, buf + got - 8, 8);
          got = 8;
        }
      } else {
        /* Closed without READY: only its exit or the timeout can follow. */
        close(ready_r);
        ready_r = -1;
      }
      continue; /* look at the pidfd again before deciding anything */
    }
    int exited = 0, status = 0;
    if (pid_i >= 0 && n > 0 && fds[pid_i].revents) {
      status = reap(daemon);
      exited = 1;
    } else if (pidfd < 0) {
      pid_t w = (pid_t)RETRY(waitpid(daemon, &status, WNOHANG));
      exited = w == daemon;
    }
    if (exited) {
      fail_window(stage, daemon, status);
      return -1;
    }
    if (left <= 0) break;
  }

  if (stage == ND_STAGE_running) {
    report(ND_STAGE_running, 0, 0, pl->h.window_ms);
    return 0;
  }
  if (!(pl->h.flags & ND_PLAN_KEEP_ON_TIMEOUT)) {
    kill_and_reap(daemon);
    kill_descendants();
  }
  report(ND_STAGE_ready, 0, ND_ETIMEOUT, pl->h.window_ms);
  return -1;
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
  /* Drop whatever else the caller let through (fds it did not mark
   * close-on-exec). */
#ifdef SYS_close_range
  if (syscall(SYS_close_range, ND_HELPER_FD_FIRST_FREE, ~0U, 0) < 0)
#endif
    (void)set_cloexec_from(ND_HELPER_FD_FIRST_FREE);

  struct plan pl;
  memset(&pl, 0, sizeof pl);
  int err = load_plan(&pl);
  if (err) {
    report(ND_STAGE_plan, 0, err, 0);
    return 1;
  }

  pid_t self = getpid();
  pid_t sid = setsid();
  if (sid < 0) {
    report(ND_STAGE_setsid, 0, errno, 0);
    return 1;
  }
  if (getsid(0) != self || sid != self) {
    report(ND_STAGE_setsid, 0, ND_EVERIFY, getsid(0));
    return 1;
  }
  report(ND_STAGE_setsid, 0, 0, sid);

  /* A subreaper inherits what the daemon starts if the daemon dies in the
   * window, so that a failed launch can leave nothing running. */
  if (pl.h.window_ms > 0 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    report(ND_STAGE_fork, ND_SYS_prctl, errno, 0);
    return 1;
  }
  int rep[2], ready[2] = {-1, -1};
  if (pipe2(rep, O_CLOEXEC) < 0) {
    report(ND_STAGE_fork, ND_SYS_pipe2, errno, 0);
    return 1;
  }
  if ((pl.h.flags & ND_PLAN_WANT_READY) && pipe2(ready, O_CLOEXEC) < 0) {
    report(ND_STAGE_fork, ND_SYS_pipe2, errno, 0);
    return 1;
  }

  pid_t daemon = fork();
  if (daemon < 0) {
    report(ND_STAGE_fork, 0, errno, 0);
    return 1;
  }
  if (daemon == 0) {
    close(rep[0]);
    if (ready[0] >= 0) close(ready[0]);
    daemon_rep = rep[1];
    become_daemon(&pl, self, ready[1]);
  }
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
  report(ND_STAGE_fork, 0, 0, daemon);
  close(rep[1]);
  if (ready[1] >= 0) close(ready[1]);
  if (pl.h.flags & ND_PLAN_HAS_PIDFILE) {
    if (pid_err != 0) {
      report(ND_STAGE_pidfile, 0, pid_err, daemon);
      kill_and_reap(daemon);
      kill_descendants(); /* with a window, a subreaper: anything it forked */
      return 1;
    }
    report(ND_STAGE_pidfile, 0, 0, daemon);
  }

  if (forward_until_exec(rep[0], daemon) < 0) return 1;
  if (pl.h.flags & ND_PLAN_DRY_RUN) { /* the checks passed; the child has exited */
    reap(daemon);
    return 0;
  }
  if (pl.h.window_ms == 0) return 0;

  /* Hold nothing of the caller's during the window: no cwd (a mount point
   * it could pin), no plan, no log, no lock file (the pid file is closed
   * already). */
  close(rep[0]);
  close(ND_HELPER_FD_PLAN);
  close(ND_HELPER_FD_LOG);
  close(ND_HELPER_FD_LOCK);
  if (chdir("/") < 0) { /* "/" always exists; nothing to report */
  }
  return watch_window(&pl, daemon, ready[0]) < 0 ? 1 : 0;
}
