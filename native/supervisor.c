/*
 * The supervisor (--respawn): one single-threaded poll loop over a signalfd
 * (SIGCHLD, TERM/INT/QUIT, HUP), the current generation's record pipe and
 * ready pipe, and timers. Nothing is allocated here: every buffer is static
 * or on the stack, and the plan it forks generations from was loaded by the
 * helper before the fork. See supervise.h for the fd layout it starts with,
 * docs/supervision.md for the behaviour.
 *
 * Life of a generation:
 *   fork -> the child runs the daemon checklist (nd_generation_exec), its
 *   records arrive on rep_r until EOF (exec done, or a failure record)
 *   -> running; with readiness, READY on ready_r -> ready; up long enough
 *   (1 s after ready(), or min_uptime without readiness) -> a good start,
 *   the backoff starts over -> its death (SIGCHLD, waitpid) -> whatever it
 *   left behind is killed and reaped -> the policy decides: restart after
 *   a delay, or stop for good, or give up.
 * The first generation decides the launch: its records go to the caller's
 * status pipe, then the verdict of its start-up window, then the pipe is
 * closed; a failure there ends the supervisor with nothing left running.
 */
#define _GNU_SOURCE
#include "supervise.h"
#include "records.h"

#include <dirent.h>
#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef __NR_getdents64
#define __NR_getdents64 SYS_getdents64
#endif
#include <sys/fsuid.h>

#include "daemon_steps.h"
#include "ready_line.h"
#include "protocol.h"
#include "retry.h"
#include "supervise_state.h"

/* From fork to exec, at most this long (a hung chdir on NFS, a FIFO as
 * the entry): then the generation is killed, and that is a death. */
#define EXEC_DEADLINE_MS 30000
/* After ready(), a generation up this long is a good start. */
#define READY_GOOD_MS 1000
/* Killing what a dead generation left behind: give up waiting after this
 * (a process in uninterruptible sleep); it stays a child and is reaped later. */
#define LEFTOVER_WAIT_MS 5000

/* The fd slot that held the pid file (the helper's; never ours). */
#define FD_PIDFILE_SLOT ND_HELPER_FD_PIDFILE
#define FD_STATE ND_HELPER_FD_STATE

static const struct nd_supervise_config *cfg;
static pid_t self;
static int sigfd = -1;

/* The current generation. */
static pid_t gen_pid;        /* 0: none */
static int rep_r = -1;       /* its records, until EOF */
static int ready_r = -1;     /* its ready pipe, until READY or EOF */
static int exec_ok, exec_failed;
static struct nd_record first_failure;
static int64_t gen_started;  /* monotonic ms */
static int64_t exec_deadline, window_deadline, good_at, restart_at, stop_deadline;
static struct ready_line ready_line; /* READY=1 as a whole line */

static int launching = 1;    /* the first generation's verdict is not given yet */
static int stopping;
static int stop_signal;
static int degraded;         /* no PR_SET_CHILD_SUBREAPER */

static struct nd_tally tally;
static struct nd_state st;

/* ------------------------------------------------------------------ time */

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

/* ---------------------------------------------------------------- output */

/* A record to the caller, while the launch is in progress. */
static void status_record(int stage, int sys, int err, int64_t value) {
  if (launching) (void)daemon_send_record(ND_HELPER_FD_STATUS, stage, sys, err, value);
}

static void write_state(void) {
  st.seq++;
  st.seq_end = st.seq;
  st.updated_ms = real_ms();
  st.daemon_pid = gen_pid;
  (void)RETRY(pwrite(FD_STATE, &st, sizeof st, 0));
}

/* One JSON line, shaped like the launcher's pino lines, in one write(2)
 * on the O_APPEND log: concurrent writers never tear it. */
static char line[1024];
static size_t line_len;

static void put(const char *s) {
  size_t n = strlen(s);
  if (line_len + n >= sizeof line - 2) n = sizeof line - 2 - line_len;
  memcpy(line + line_len, s, n);
  line_len += n;
}

static void put_int(const char *key, int64_t v) {
  char buf[64];
  snprintf(buf, sizeof buf, ",\"%s\":%lld", key, (long long)v);
  put(buf);
}

static void put_str(const char *key, const char *v) {
  put(",\"");
  put(key);
  put("\":\"");
  /* Our own strings only (ASCII, no quotes); escape anyway. */
  char c[2] = {0, 0};
  for (const char *p = v; *p; p++) {
    if (*p == '"' || *p == '\\') put("\\");
    if ((unsigned char)*p < 0x20) continue;
    c[0] = *p;
    put(c);
  }
  put("\"");
}

static void log_begin(int level, const char *event) {
  line_len = 0;
  char buf[160];
  snprintf(buf, sizeof buf, "{\"level\":%d,\"time\":%lld,\"pid\":%d,\"name\":\"node-daemonize\",\"supervisor\":true", level,
           (long long)real_ms(), (int)self);
  put(buf);
  put_str("event", event);
}

static void log_end(const char *msg) {
  put_str("msg", msg);
  put("}\n");
  (void)RETRY(write(ND_HELPER_FD_LOG, line, line_len));
}

static const char *signal_name(int sig) {
  static const char *names[] = {"0", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
                                "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
                                "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU",
                                "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"};
  return sig > 0 && sig < (int)(sizeof names / sizeof names[0]) ? names[sig] : "a real-time signal";
}

/* "exit code 1" / "signal SIGKILL" */
static void describe_status(char *buf, size_t len, int wstatus) {
  if (WIFEXITED(wstatus)) snprintf(buf, len, "exit code %d", WEXITSTATUS(wstatus));
  else if (WIFSIGNALED(wstatus)) snprintf(buf, len, "signal %s", signal_name(WTERMSIG(wstatus)));
  else snprintf(buf, len, "status %d", wstatus);
}

static void put_status(int wstatus) {
  if (WIFEXITED(wstatus)) put_int("exitCode", WEXITSTATUS(wstatus));
  else if (WIFSIGNALED(wstatus)) put_str("signal", signal_name(WTERMSIG(wstatus)));
}

/* ------------------------------------------------------------ processes */

/* Point a slot we are done with at /dev/null (fd 0), keeping it occupied. */
static void retire_fd(int fd) { (void)dup3(0, fd, O_CLOEXEC); }

static void close_gen_pipes(void) {
  if (rep_r >= 0) close(rep_r);
  if (ready_r >= 0) close(ready_r);
  rep_r = ready_r = -1;
}

/* Reap every child that has exited; returns 1 if the current generation
 * was among them (*status set). */
static int gen_exited;
static int gen_status;

static void reap_all(void) {
  for (;;) {
    int status = 0;
    pid_t p = (pid_t)RETRY(waitpid(-1, &status, WNOHANG));
    if (p <= 0) return;
    if (p == gen_pid) {
      gen_exited = 1;
      gen_status = status;
    }
  }
}

static int has_children(void) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  return RETRY(waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT)) == 0;
}

/* SIGKILL every other process of the service's session, the generation
 * included if alive: what a dead generation left behind (children holding
 * its port, its files) must not meet the next one. Found two ways: the
 * session (whoever did not leave it, even if reparented to init when
 * there is no subreaper) and our children (as a subreaper, every orphan of
 * a generation, even one that left the session with setsid). */
static char dents[16384];
static char statbuf[1024];

/* Read a /proc text file into statbuf, NUL-terminated. When it does not
 * fit, the text is cut back to its last space: a list of pids must never
 * end in a pid cut short (12345 read as 123 would kill the wrong process);
 * whoever is left over is found on the next pass. Returns the length kept,
 * or -1. */
static ssize_t read_proc_text(const char *path) {
  int fd = (int)RETRY(open(path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return -1;
  size_t got = 0;
  for (;;) {
    ssize_t n = RETRY(read(fd, statbuf + got, sizeof statbuf - 1 - got));
    if (n <= 0) break;
    got += (size_t)n;
    if (got == sizeof statbuf - 1) {
      while (got > 0 && statbuf[got - 1] != ' ' && statbuf[got - 1] != '\n') got--;
      break;
    }
  }
  close(fd);
  statbuf[got] = '\0';
  return (ssize_t)got;
}

static void kill_session(void) {
  int dir = (int)RETRY(open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir < 0) return;
  for (;;) {
    long n = syscall(__NR_getdents64, dir, dents, sizeof dents);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      struct linux_dirent64 {
        uint64_t d_ino;
        int64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[];
      } *d = (void *)(dents + off);
      off += d->d_reclen;
      long pid = 0;
      const char *c = d->d_name;
      for (; *c >= '0' && *c <= '9'; c++) pid = pid * 10 + (*c - '0');
      if (*c != '\0' || pid <= 1 || pid == self) continue;
      char path[64];
      snprintf(path, sizeof path, "/proc/%ld/stat", pid);
      if (read_proc_text(path) <= 0) continue;
      char *paren = strrchr(statbuf, ')');
      if (paren == NULL) continue;
      char state;
      int ppid, pgrp, session;
      if (sscanf(paren + 2, "%c %d %d %d", &state, &ppid, &pgrp, &session) != 4) continue;
      if (session == cfg->sid) kill((pid_t)pid, SIGKILL);
    }
  }
  close(dir);
}

static void kill_children(void) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)self);
  if (read_proc_text(path) <= 0) return;
  long pid = 0;
  int in = 0;
  for (char *p = statbuf;; p++) {
    if (*p >= '0' && *p <= '9') {
      pid = pid * 10 + (*p - '0');
      in = 1;
    } else {
      if (in && pid > 1) kill((pid_t)pid, SIGKILL);
      pid = 0;
      in = 0;
      if (*p == '\0') break;
    }
  }
}

/* Kill and reap everything but ourselves; bounded by LEFTOVER_WAIT_MS. */
static void kill_leftovers(void) {
  int64_t end = mono_ms() + LEFTOVER_WAIT_MS;
  for (;;) {
    /* With a subreaper every leftover is a descendant of ours; without,
     * the session is where the orphans of a generation are found. */
    if (degraded) kill_session();
    kill_children();
    reap_all();
    if (!has_children()) {
      /* Without a subreaper, orphans are init's: wait until the session is
       * empty but for us, as far as /proc shows it. */
      return;
    }
    if (mono_ms() > end) return;
    sleep_ms(5);
  }
}

/* ------------------------------------------------------------- the log */

/* Find VAR=value in the plan's environment: not needed, the path comes in
 * the config. Reopen the log at its path as the service user: setfsuid and
 * setfsgid around an open with O_NOFOLLOW|O_NONBLOCK|O_APPEND, then fstat:
 * a regular file with one link. A file created here is created by the
 * service user (as the daemon's own reopen would), never by root. */
static void reopen_log(void) {
  if (cfg->log_path == NULL) return;
  uid_t old_uid = 0;
  gid_t old_gid = 0;
  if (cfg->set_ids) {
    old_gid = (gid_t)setfsgid(cfg->gid);
    old_uid = (uid_t)setfsuid(cfg->uid);
  }
  int fd = (int)RETRY(open(cfg->log_path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0640));
  int err = fd < 0 ? errno : 0;
  if (cfg->set_ids) {
    setfsuid(old_uid);
    setfsgid(old_gid);
  }
  struct stat sb;
  const char *why = NULL;
  if (fd < 0) why = "cannot open the log file";
  else if (fstat(fd, &sb) < 0) why = "cannot fstat the log file";
  else if (!S_ISREG(sb.st_mode)) why = "the log path is not a regular file";
  else if (sb.st_nlink != 1) why = "the log file has more than one link";
  if (why == NULL) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (dup3(fd, ND_HELPER_FD_LOG, O_CLOEXEC) < 0) why = "cannot replace the log fd";
  }
  if (fd >= 0) close(fd);
  if (why != NULL) {
    log_begin(40, "reopen-failed");
    if (err) put_int("errno", err);
    log_end(why);
    return;
  }
  log_begin(30, "reopen");
  log_end("reopened the log file");
}

/* Does pid catch SIGHUP (SigCgt in /proc/<pid>/status)? */
static int catches_hup(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  int fd = (int)RETRY(open(path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return 0;
  static char buf[4096];
  ssize_t n = RETRY(read(fd, buf, sizeof buf - 1));
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char *p = strstr(buf, "\nSigCgt:");
  if (p == NULL) return 0;
  unsigned long long mask = 0;
  if (sscanf(p + 8, " %llx", &mask) != 1) return 0;
  return (mask & (1ULL << (SIGHUP - 1))) != 0;
}

/* --------------------------------------------------------- generations */

static void set_state(uint32_t state) {
  st.state = state;
  write_state();
}

static void finish(int code) {
  /* The state stays readable; the lock goes with us. */
  write_state();
  _exit(code);
}

/* The first generation failed its window: nothing may stay. */
static void fail_launch(void) {
  close_gen_pipes();
  if (gen_pid > 0 && !gen_exited) kill(gen_pid, SIGKILL);
  kill_leftovers();
  gen_pid = 0;
  st.reason = ND_REASON_LAUNCH_FAILED;
  st.state = ND_STATE_FAILED;
  finish(1);
}

/* The launch went well: the caller's pipe closes (its EOF ends the launch). */
static void launched(void) {
  launching = 0;
  retire_fd(ND_HELPER_FD_STATUS);
  set_state(ND_STATE_RUNNING);
  log_begin(30, "launched");
  put_int("generation", st.generation);
  put_int("daemonPid", gen_pid);
  log_end("supervising the daemon");
}

static int start_generation(void) {
  int rep[2] = {-1, -1}, ready[2] = {-1, -1};
  struct nd_fd_move moves[ND_DAEMON_FD_MOVES_MAX];
  int above = daemon_fd_moves_top(moves, plan_daemon_fd_moves(cfg->plan, -1, moves)) + 1;
  int first_free = ND_HELPER_FD_FIRST_FREE_AFTER((int)cfg->plan->h.nsockets); /* the sockets are kept */
  if (above < first_free) above = first_free;
  int err = fd_pipe_above(rep, above);
  if (err) return err;
  if (cfg->want_ready && (err = fd_pipe_above(ready, above)) != 0) {
    close(rep[0]);
    close(rep[1]);
    return err;
  }
  size_t nmoves = plan_daemon_fd_moves(cfg->plan, ready[1], moves);
  pid_t pid = fork();
  if (pid < 0) {
    err = errno;
    close(rep[0]);
    close(rep[1]);
    if (ready[0] >= 0) {
      close(ready[0]);
      close(ready[1]);
    }
    return err;
  }
  if (pid == 0) {
    /* The generation: nothing of the supervisor's own. The lock file, the
     * state file and the signalfd never reach it (the lock is the
     * supervisor's to hold; the state file is what status trusts). */
    close(rep[0]);
    if (ready[0] >= 0) close(ready[0]);
    close(ND_HELPER_FD_LOCK);
    close(FD_STATE);
    close(sigfd);
    daemon_become(cfg->plan, cfg->sid, rep[1], moves, nmoves);
  }
  close(rep[1]);
  if (ready[1] >= 0) close(ready[1]);
  rep_r = rep[0];
  ready_r = ready[0];
  gen_pid = pid;
  gen_exited = 0;
  exec_ok = exec_failed = 0;
  memset(&first_failure, 0, sizeof first_failure);
  ready_line.pos = 0;
  gen_started = mono_ms();
  exec_deadline = gen_started + EXEC_DEADLINE_MS;
  window_deadline = 0;
  good_at = 0;
  restart_at = 0;
  st.flags &= ~(uint32_t)(ND_STATE_F_READY | ND_STATE_F_GOOD_START);
  st.daemon_started_ms = real_ms();
  st.restart_at_ms = 0;
  st.restart_delay_ms = 0;
  status_record(ND_STAGE_fork, 0, 0, pid);
  set_state(launching ? ND_STATE_STARTING : ND_STATE_RUNNING);
  return 0;
}

/* The generation exec'd: its window (launch) or readiness wait starts. */
static void on_exec(void) {
  int64_t now = mono_ms();
  exec_deadline = 0;
  if (launching) {
    if (cfg->window_ms == 0) {
      launched();
    } else {
      window_deadline = now + cfg->window_ms;
    }
  } else {
    log_begin(30, "start");
    put_int("generation", st.generation);
    put_int("daemonPid", gen_pid);
    put_int("restarts", st.restarts);
    log_end("started a new generation of the daemon");
    if (cfg->want_ready && cfg->window_ms > 0) window_deadline = now + cfg->window_ms;
  }
  if (!cfg->want_ready) good_at = gen_started + cfg->min_uptime_ms;
  if (!launching) set_state(ND_STATE_RUNNING);
}

static void on_ready(void) {
  st.flags |= ND_STATE_F_READY;
  good_at = mono_ms() + READY_GOOD_MS;
  window_deadline = 0;
  if (launching) {
    status_record(ND_STAGE_ready, 0, 0, gen_pid);
    launched();
  } else {
    log_begin(30, "ready");
    put_int("generation", st.generation);
    put_int("daemonPid", gen_pid);
    log_end("the daemon is ready");
  }
  write_state();
}

/* Records from the generation's checklist. */
static void read_records(void) {
  struct nd_record r;
  ssize_t got = RETRY(read(rep_r, &r, sizeof r));
  if (got == (ssize_t)sizeof r) {
    status_record(r.stage, r.syscall, r.err, r.value);
    if (r.err != 0) {
      if (!exec_failed) first_failure = r;
      exec_failed = 1;
      exec_ok = 0;
    } else if (r.stage == ND_STAGE_exec) {
      exec_ok = 1;
    }
    return;
  }
  /* EOF: the exec succeeded, or the checklist failed (its exit follows). */
  close(rep_r);
  rep_r = -1;
  if (exec_ok && !exec_failed) {
    on_exec();
    return;
  }
  if (!launching && exec_failed) {
    log_begin(50, "start-failed");
    put_int("generation", st.generation);
    put_int("stage", first_failure.stage);
    put_int("errno", first_failure.err);
    log_end("a new generation failed the daemon checklist before exec");
  }
  /* Its exit (SIGCHLD) decides the rest. */
}

/* Every record the generation wrote before it died, before its death is
 * judged: a failure record names the step that failed. Never blocks. */
static void drain_records(void) {
  while (rep_r >= 0) {
    struct pollfd p = {rep_r, POLLIN, 0};
    if (RETRY(poll(&p, 1, 0)) <= 0) return;
    read_records();
  }
}

static void read_ready(void) {
  char buf[4096];
  ssize_t n = RETRY(read(ready_r, buf, sizeof buf));
  if (n <= 0) {
    close(ready_r);
    ready_r = -1;
    if (n == 0 && ready_line_eof(&ready_line)) on_ready();
    return;
  }
  if (ready_line_feed(&ready_line, buf, (size_t)n)) {
    close(ready_r);
    ready_r = -1;
    on_ready();
  }
}

static void finish_stop(void) {
  close_gen_pipes();
  kill_leftovers();
  gen_pid = 0;
  st.reason = ND_REASON_SIGNAL;
  st.stop_signal = (uint32_t)stop_signal;
  st.state = ND_STATE_STOPPED;
  log_begin(30, "stopped");
  put_str("signal", signal_name(stop_signal));
  log_end("stopped the service");
  finish(0);
}

static void begin_stop(int sig) {
  if (stopping) return;
  stopping = 1;
  stop_signal = sig;
  restart_at = 0;
  log_begin(30, "stop");
  put_str("signal", signal_name(sig));
  if (gen_pid > 0) put_int("daemonPid", gen_pid);
  put_int("stopTimeoutMs", cfg->stop_timeout_ms);
  log_end("stopping the service");
  if (gen_pid <= 0) finish_stop();
  kill(gen_pid, SIGTERM); /* our unreaped child: the pid is its own */
  stop_deadline = mono_ms() + cfg->stop_timeout_ms;
  set_state(ND_STATE_STOPPING);
}

/* The daemon ended in a way the policy does not restart: record why, log it, exit. */
static void end_for_good(uint32_t reason, const char *msg) {
  st.reason = reason;
  st.state = ND_STATE_EXITED;
  log_begin(30, "done");
  log_end(msg);
  finish(0);
}

static void on_death(int wstatus) {
  int64_t uptime = mono_ms() - gen_started;
  pid_t dead = gen_pid;
  drain_records();
  close_gen_pipes();
  gen_pid = 0;
  exec_deadline = window_deadline = good_at = 0;
  st.flags &= ~(uint32_t)(ND_STATE_F_READY | ND_STATE_F_GOOD_START);
  if (WIFEXITED(wstatus)) {
    st.last_exit_kind = ND_EXIT_CODE;
    st.last_exit_value = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    st.last_exit_kind = ND_EXIT_SIGNAL;
    st.last_exit_value = WTERMSIG(wstatus);
  }
  /* Whatever it left behind goes before anything else starts. */
  kill_leftovers();

  if (launching) {
    if (exec_failed || !exec_ok) {
      /* Died without a failure record: killed before exec. */
      if (!exec_failed) status_record(ND_STAGE_exec, 0, ND_EEXITED, wstatus);
    } else {
      status_record(cfg->want_ready ? ND_STAGE_ready : ND_STAGE_running, 0, ND_EEXITED, wstatus);
    }
    gen_exited = 1;
    fail_launch();
  }
  if (stopping) finish_stop();

  char how[64], msg[256];
  describe_status(how, sizeof how, wstatus);
  struct nd_decision d = nd_policy_on_death(&cfg->policy, &tally, mono_ms(), wstatus);
  st.deaths = tally.deaths;
  st.deaths_in_window = d.in_window;
  log_begin(d.verdict == ND_VERDICT_RESPAWN ? 40 : 50, "exit");
  put_int("generation", st.generation);
  put_int("daemonPid", dead);
  put_status(wstatus);
  put_int("uptimeMs", uptime);
  snprintf(msg, sizeof msg, "the daemon (pid %d) exited with %s", (int)dead, how);
  log_end(msg);

  switch (d.verdict) {
    case ND_VERDICT_RESPAWN: {
      /* +1: mono_ms() truncates, so "now" may already be up to 1 ms old;
       * the delay is a lower bound and must never come out shorter. */
      int64_t now = mono_ms();
      restart_at = d.delay_ms > 0 ? now + d.delay_ms + 1 : now;
      st.restart_at_ms = real_ms() + d.delay_ms;
      st.restart_delay_ms = d.delay_ms;
      log_begin(40, "restart");
      put_int("delayMs", d.delay_ms);
      put_int("restart", st.restarts + 1);
      put_int("deathsInWindow", d.in_window);
      snprintf(msg, sizeof msg, "restarting in %u ms (restart %u)", d.delay_ms, st.restarts + 1);
      log_end(msg);
      set_state(ND_STATE_RESTARTING);
      return;
    }
    case ND_VERDICT_CLEAN_EXIT:
      end_for_good(ND_REASON_CLEAN_EXIT, "the daemon exited with code 0; --respawn on-failure does not restart a clean exit");
      break;
    case ND_VERDICT_NO_RESPAWN_EXIT:
      snprintf(msg, sizeof msg, "the daemon exited with %s, listed in --no-respawn-exit: not restarted", how);
      end_for_good(ND_REASON_NO_RESPAWN_EXIT, msg);
      break;
    case ND_VERDICT_GIVE_UP:
      st.reason = ND_REASON_CRASH_LOOP;
      st.state = ND_STATE_FAILED;
      log_begin(50, "gave-up");
      put_int("deaths", d.in_window);
      put_int("windowMs", cfg->policy.window_ms);
      put_status(wstatus);
      snprintf(msg, sizeof msg, "gave up: %u deaths within %u ms (limit %u/%u ms); last: %s", d.in_window,
               cfg->policy.window_ms, cfg->policy.limit, cfg->policy.window_ms, how);
      log_end(msg);
      finish(1);
      break;
  }
}

/* A generation that could not even be forked counts as a death. */
static void start_or_count(void) {
  st.generation++;
  if (st.generation > 1) st.restarts++;
  int err = start_generation();
  if (err == 0) return;
  if (launching) {
    status_record(ND_STAGE_fork, 0, err, 0);
    fail_launch();
  }
  log_begin(50, "start-failed");
  put_int("errno", err);
  log_end("cannot fork a new generation");
  gen_started = mono_ms();
  on_death(127 << 8);
}

/* ---------------------------------------------------------------- timers */

static void on_timers(void) {
  int64_t now = mono_ms();
  if (stop_deadline && now >= stop_deadline) {
    stop_deadline = 0;
    log_begin(40, "stop-timeout");
    put_int("daemonPid", gen_pid);
    put_int("stopTimeoutMs", cfg->stop_timeout_ms);
    log_end("the daemon outlived the stop timeout: SIGKILL to the whole service");
    if (gen_pid > 0) kill(gen_pid, SIGKILL);
    kill_session();
    kill_children();
  }
  if (exec_deadline && now >= exec_deadline && gen_pid > 0) {
    exec_deadline = 0;
    kill(gen_pid, SIGKILL);
    if (launching) status_record(ND_STAGE_exec, 0, ND_ETIMEOUT, EXEC_DEADLINE_MS);
  }
  if (window_deadline && now >= window_deadline && gen_pid > 0) {
    window_deadline = 0;
    if (!cfg->want_ready) {
      /* The grace ran out with the first generation alive: launched. */
      status_record(ND_STAGE_running, 0, 0, cfg->window_ms);
      launched();
    } else if (cfg->keep_on_timeout) {
      if (launching) {
        status_record(ND_STAGE_ready, 0, ND_ETIMEOUT, cfg->window_ms);
        launched();
      }
    } else if (launching) {
      kill(gen_pid, SIGKILL);
      status_record(ND_STAGE_ready, 0, ND_ETIMEOUT, cfg->window_ms);
      /* Its death ends the launch; no other record may follow. */
      launching = 0;
      retire_fd(ND_HELPER_FD_STATUS);
      kill_leftovers();
      st.reason = ND_REASON_LAUNCH_FAILED;
      st.state = ND_STATE_FAILED;
      gen_pid = 0;
      finish(1);
    } else {
      log_begin(40, "not-ready");
      put_int("generation", st.generation);
      put_int("daemonPid", gen_pid);
      put_int("waitReadyMs", cfg->window_ms);
      log_end("the daemon did not call ready() in time: killed");
      kill(gen_pid, SIGKILL);
    }
  }
  if (good_at && now >= good_at && gen_pid > 0 && !launching) {
    good_at = 0;
    nd_policy_on_good_start(&tally);
    st.flags |= ND_STATE_F_GOOD_START;
    write_state();
  }
  if (restart_at && now >= restart_at && !stopping) {
    restart_at = 0;
    start_or_count();
  }
}

static int64_t next_deadline(void) {
  int64_t t[] = {stop_deadline, exec_deadline, window_deadline, launching ? 0 : good_at, restart_at};
  int64_t best = 0;
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (t[i] && (best == 0 || t[i] < best)) best = t[i];
  return best;
}

/* ------------------------------------------------------------------ main */

static void on_signal(const struct signalfd_siginfo *si) {
  switch (si->ssi_signo) {
    case SIGCHLD:
      reap_all();
      if (gen_exited) {
        gen_exited = 0;
        if (gen_pid > 0) on_death(gen_status);
      }
      break;
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
      begin_stop((int)si->ssi_signo);
      break;
    case SIGHUP:
      reopen_log();
      if (gen_pid > 0 && rep_r < 0) {
        int caught = catches_hup(gen_pid);
        log_begin(30, "hup");
        put_int("daemonPid", gen_pid);
        if (caught) kill(gen_pid, SIGHUP);
        log_end(caught ? "forwarded SIGHUP to the daemon" : "the daemon does not catch SIGHUP: not forwarded");
      }
      break;
  }
}

int nd_supervise(const struct nd_supervise_config *c) {
  cfg = c;
  self = getpid();
  /* Its own name in ps and /proc/<pid>/comm (argv stays the helper's). */
  prctl(PR_SET_NAME, "nd-supervisor");
  nd_tally_init(&tally);
  memset(&st, 0, sizeof st);
  st.magic = ND_STATE_MAGIC;
  st.version = ND_STATE_VERSION;
  st.supervisor_pid = self;
  st.supervisor_started_ms = real_ms();
  st.limit = c->policy.limit;
  st.window_ms = c->policy.window_ms;
  st.stop_timeout_ms = c->stop_timeout_ms;
  st.sid = c->sid;

  /* Every orphan of a generation comes to us, so that it can be reaped and
   * killed; where the kernel (or qemu-user) refuses, say so and go on. */
  if (c->fault_no_subreaper || prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    degraded = 1;
    st.flags |= ND_STATE_F_NO_SUBREAPER;
  }
  chdir("/");

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGQUIT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, NULL);
  signal(SIGUSR1, SIG_IGN);
  signal(SIGUSR2, SIG_IGN);
  sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) {
    status_record(ND_STAGE_fork, ND_SYS_default, errno, 0);
    return 1;
  }
  /* The log is reopened with the service user's credentials for the
   * filesystem (setfsuid/setfsgid around the open); its supplementary
   * groups are taken here, once, so that root's own groups never grant it
   * anything there. As root (euid 0) the supervisor loses nothing by it. */
  if (c->set_ids && setgroups(c->plan->h.ngroups, c->plan->groups) < 0) {
    log_begin(40, "setgroups-failed");
    put_int("errno", errno);
    log_end("cannot take the service user's groups: the log is reopened with the supervisor's own");
  }
  if (degraded) {
    log_begin(40, "no-subreaper");
    log_end("PR_SET_CHILD_SUBREAPER is not available: what a generation leaves behind is found by its session only");
  }

  start_or_count();

  for (;;) {
    struct pollfd fds[3];
    nfds_t n = 0;
    fds[n].fd = sigfd;
    fds[n++].events = POLLIN;
    int rep_i = -1, ready_i = -1;
    if (rep_r >= 0) {
      fds[n].fd = rep_r;
      fds[n].events = POLLIN;
      rep_i = (int)n++;
    }
    if (ready_r >= 0 && rep_r < 0) {
      fds[n].fd = ready_r;
      fds[n].events = POLLIN;
      ready_i = (int)n++;
    }
    int64_t deadline = next_deadline();
    int timeout = -1;
    if (deadline) {
      int64_t left = deadline - mono_ms();
      timeout = left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
    }
    int r = poll(fds, n, timeout);
    if (r < 0 && errno != EINTR) sleep_ms(10);
    if (r > 0) {
      if (rep_i >= 0 && fds[rep_i].revents) read_records();
      if (ready_i >= 0 && fds[ready_i].revents && ready_r >= 0) read_ready();
      if (fds[0].revents) {
        struct signalfd_siginfo si;
        while (RETRY(read(sigfd, &si, sizeof si)) == (ssize_t)sizeof si) on_signal(&si);
      }
    }
    on_timers();
  }
}
