/*
 * The supervisor (--respawn): one single-threaded poll loop over a signalfd
 * (SIGCHLD, TERM/INT/QUIT, HUP, USR2), the current generation's record pipe
 * and ready pipe (and a starting one's, during a graceful restart), and
 * timers. Nothing is allocated here: every buffer is static or on the stack,
 * and the plan it forks generations from was loaded by the helper before the
 * fork. See supervise.h for the fd layout it starts with,
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
 *
 * A graceful restart (SIGUSR2; see the section below) overlaps two
 * generations: the new one starts alongside the current one and takes over
 * only once ready; the replaced one then drains. What each generation
 * leaves behind is told from the other's by its own cgroup, or where the
 * supervisor cannot make one, by /proc (leftovers.h).
 */
#define _GNU_SOURCE
#include "supervise.h"
#include "records.h"

#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/fsuid.h>

#include "clock.h"
#include "daemon_steps.h"
#include "leftovers.h"
#include "proc_scan.h"
#include "ready_line.h"
#include "protocol.h"
#include "retry.h"
#include "supervise_state.h"
#include "text.h"

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

/* A graceful restart's other generation: the new one while it starts
 * (next), then the replaced one while it drains (draining_pid). */
struct next_gen {
  pid_t pid;                 /* 0: none */
  int rep_r, ready_r;        /* its records until EOF; its ready pipe until READY or EOF */
  int exec_ok, exec_failed;
  struct nd_record first_failure;
  int64_t started, started_real, exec_deadline, ready_deadline;
  int64_t kill_deadline;     /* not ready in time: SIGTERM was sent, SIGKILL at this time */
  struct ready_line ready_line;
  int exited, status;        /* reaped: its wait status */
  uint32_t killed_why;       /* ND_GRACEFUL_* when the supervisor killed it */
};
static struct next_gen next; /* rep_r, ready_r: -1 from nd_supervise on */
static pid_t draining_pid;
static int64_t drain_deadline;
static int draining_exited, draining_status;

static int launching = 1;    /* the first generation's verdict is not given yet */
static int stopping;
static int stop_signal;
static int degraded;         /* no PR_SET_CHILD_SUBREAPER */
static struct leftovers_mechanism mechanism; /* how leftovers are found (leftovers.h) */

static struct nd_tally tally;
static struct nd_state st;

/* ------------------------------------------------------------------ time */

static int64_t mono_ms(void) { return clock_mono_ms(); }

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

/* A process's start time (clock ticks after boot), or 0. */
static uint64_t start_ticks_of(pid_t pid) {
  struct proc_stat ps;
  return proc_stat_of((long)pid, &ps) < 0 ? 0 : (uint64_t)ps.start;
}

static void write_state(void) {
  st.seq++;
  st.seq_end = st.seq;
  st.updated_ms = real_ms();
  /* The current generation's start time, read once per generation: it is
   * our unreaped child (or zombie) then, so its pid cannot have been reused.
   * With it, status and stop after our death (SIGKILL) name or signal that
   * pid only while it is still that process. */
  static pid_t ticks_pid;
  static uint32_t ticks_generation;
  if (gen_pid != ticks_pid || st.generation != ticks_generation) {
    ticks_pid = gen_pid;
    ticks_generation = st.generation;
    st.daemon_start_ticks = gen_pid > 0 ? start_ticks_of(gen_pid) : 0;
  }
  st.daemon_pid = gen_pid;
  st.next_pid = next.pid;
  st.draining_pid = draining_pid;
  leftovers_identity(&st.cgroup_id, st.cgroup_dir, sizeof st.cgroup_dir); /* what finds our cgroup after our death */
  (void)RETRY(pwrite(FD_STATE, &st, sizeof st, 0));
}

/* One JSON line, shaped like the launcher's pino lines, in one write(2)
 * on the O_APPEND log: concurrent writers never tear it. A line is cut at
 * 1022 bytes (ours never come near). */
static char line_buf[1024];
static struct nd_text line;

static void put_int(const char *key, int64_t v) {
  text_str(&line, ",\"");
  text_str(&line, key);
  text_str(&line, "\":");
  text_i64(&line, v);
}

static void put_str(const char *key, const char *v) {
  text_str(&line, ",\"");
  text_str(&line, key);
  text_str(&line, "\":\"");
  /* Our own strings only (ASCII, no quotes); escape anyway. */
  for (const char *p = v; *p; p++) {
    if (*p == '"' || *p == '\\') text_char(&line, '\\');
    if ((unsigned char)*p < 0x20) continue;
    text_char(&line, *p);
  }
  text_str(&line, "\"");
}

static void log_begin(int level, const char *event) {
  text_init(&line, line_buf, sizeof line_buf - 1);
  text_str(&line, "{\"level\":");
  text_i64(&line, level);
  text_str(&line, ",\"time\":");
  text_i64(&line, real_ms());
  text_str(&line, ",\"pid\":");
  text_i64(&line, self);
  text_str(&line, ",\"name\":\"node-daemonize\",\"supervisor\":true");
  put_str("event", event);
}

static void log_end(const char *msg) {
  put_str("msg", msg);
  text_str(&line, "}\n");
  (void)RETRY(write(ND_HELPER_FD_LOG, line.buf, line.len));
}

static const char *signal_name(int sig) {
  static const char *names[] = {"0", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
                                "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
                                "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU",
                                "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"};
  return sig > 0 && sig < (int)(sizeof names / sizeof names[0]) ? names[sig] : "a real-time signal";
}

/* "exit code 1" / "signal SIGKILL", into buf. */
static void describe_status(char *buf, size_t len, int wstatus) {
  struct nd_text t;
  text_init(&t, buf, len);
  if (WIFEXITED(wstatus)) {
    text_str(&t, "exit code ");
    text_i64(&t, WEXITSTATUS(wstatus));
  } else if (WIFSIGNALED(wstatus)) {
    text_str(&t, "signal ");
    text_str(&t, signal_name(WTERMSIG(wstatus)));
  } else {
    text_str(&t, "status ");
    text_i64(&t, wstatus);
  }
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

/* Reap every child that has exited, noting the generations among them
 * (the current one, and during a graceful restart the new or the draining
 * one: graceful_reaped). */
static int gen_exited;
static int gen_status;
static void graceful_reaped(pid_t p, int status);

static void reap_all(void) {
  for (;;) {
    int status = 0;
    pid_t p = (pid_t)RETRY(waitpid(-1, &status, WNOHANG));
    if (p <= 0) return;
    leftovers_reaped(p);
    if (p == gen_pid) {
      gen_exited = 1;
      gen_status = status;
    }
    graceful_reaped(p, status);
  }
}

/* A live generation other than dead (the current, the new or the draining
 * one), or 0 for none; i: 0..2. */
static pid_t live_gen(int i, pid_t dead) {
  pid_t p = i == 0 ? gen_pid : i == 1 ? next.pid : draining_pid;
  return p > 0 && p != dead ? p : 0;
}

static int others_alive(pid_t dead) { return live_gen(0, dead) || live_gen(1, dead) || live_gen(2, dead); }

/* What generation `dead` left behind, never what a generation still alive
 * started (leftovers.h: its cgroup, or the /proc attribution); everything
 * when no other one lives. Bounded by LEFTOVER_WAIT_MS. */
static void kill_generation_leftovers(pid_t dead) { leftovers_kill(dead, mono_ms() + LEFTOVER_WAIT_MS); }

/* Kill and reap everything but ourselves; bounded by LEFTOVER_WAIT_MS. */
static void kill_leftovers(void) { leftovers_kill_all(mono_ms() + LEFTOVER_WAIT_MS); }

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
  text_number_path(path, sizeof path, "/proc/", pid, "/status");
  int fd = (int)RETRY(open(path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return 0;
  static char buf[4096];
  ssize_t n = RETRY(read(fd, buf, sizeof buf - 1));
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char *p = strstr(buf, "\nSigCgt:");
  if (p == NULL) return 0;
  const char *hex = text_skip_space(p + 8);
  uint64_t mask;
  if (text_parse_hex64(&hex, &mask) < 0) return 0;
  return (mask & (1ULL << (SIGHUP - 1))) != 0;
}

/* --------------------------------------------------------- generations */

static void set_state(uint32_t state) {
  st.state = state;
  write_state();
}

static void finish(int code) {
  /* The cgroups it made go with it. */
  leftovers_end();
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
  /* Each generation in a cgroup of its own; else why not (the /proc attribution). */
  put_str("leftovers", mechanism.cgroup ? "cgroup" : "proc");
  if (mechanism.cgroup) {
    put_str("cgroup", mechanism.path);
  } else {
    put_str("cgroupStep", mechanism.step);
    if (mechanism.err) put_int("cgroupErrno", mechanism.err);
  }
  log_end("supervising the daemon");
}

/* Fork a generation: *pid_out, its record pipe and (with readiness) its
 * ready pipe. Returns 0 or an errno. */
static int fork_generation(pid_t *pid_out, int *rep_out, int *ready_out) {
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
  /* Into a cgroup of its own where there are cgroups (leftovers.h). */
  pid_t pid = leftovers_fork();
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
    /* Its own process group (plan.h own_group), set on both sides of the
     * fork so that it holds before either goes on. */
    (void)setpgid(0, 0);
    daemon_become(cfg->plan, cfg->sid, rep[1], moves, nmoves);
  }
  (void)setpgid(pid, pid);
  close(rep[1]);
  if (ready[1] >= 0) close(ready[1]);
  *pid_out = pid;
  *rep_out = rep[0];
  *ready_out = ready[0];
  return 0;
}

static int start_generation(void) {
  pid_t pid;
  int err = fork_generation(&pid, &rep_r, &ready_r);
  if (err) return err;
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

/* One record of a generation's checklist: the first failure is kept, and
 * "exec" without a failure is a success. */
static void take_record(const struct nd_record *r, int *ok, int *failed, struct nd_record *first) {
  if (r->err != 0) {
    if (!*failed) *first = *r;
    *failed = 1;
    *ok = 0;
  } else if (r->stage == ND_STAGE_exec) {
    *ok = 1;
  }
}

/* Records from the generation's checklist. */
static void read_records(void) {
  struct nd_record r;
  ssize_t got = RETRY(read(rep_r, &r, sizeof r));
  if (got == (ssize_t)sizeof r) {
    status_record(r.stage, r.syscall, r.err, r.value);
    take_record(&r, &exec_ok, &exec_failed, &first_failure);
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
static void drain_records_of(const int *fd, void (*reader)(void)) {
  while (*fd >= 0) {
    struct pollfd p = {*fd, POLLIN, 0};
    if (RETRY(poll(&p, 1, 0)) <= 0) return;
    reader();
  }
}

static void drain_records(void) { drain_records_of(&rep_r, read_records); }

/* One read of a ready pipe; returns 1 once READY=1 came (the pipe is then
 * closed, as it is at EOF). */
static int ready_read(int *fd, struct ready_line *rl) {
  char buf[4096];
  ssize_t n = RETRY(read(*fd, buf, sizeof buf));
  if (n <= 0) {
    close(*fd);
    *fd = -1;
    return n == 0 && ready_line_eof(rl);
  }
  if (ready_line_feed(rl, buf, (size_t)n)) {
    close(*fd);
    *fd = -1;
    return 1;
  }
  return 0;
}

static void read_ready(void) {
  if (ready_read(&ready_r, &ready_line)) on_ready();
}

/* The graceful restart's hooks into a stop and into the service's end. */
static void graceful_on_stop(void);
static void graceful_end_all(void);
static int graceful_takes_over(uint32_t delay_ms);

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
  graceful_on_stop();
  if (!others_alive(0)) finish_stop();
  if (gen_pid > 0) kill(gen_pid, SIGTERM); /* our unreaped child: the pid is its own */
  stop_deadline = mono_ms() + cfg->stop_timeout_ms;
  set_state(ND_STATE_STOPPING);
}

/* The daemon ended in a way the policy does not restart: record why, log it, exit. */
static void end_for_good(uint32_t reason, const char *msg) {
  graceful_end_all();
  st.reason = reason;
  st.state = ND_STATE_EXITED;
  log_begin(30, "done");
  log_end(msg);
  finish(0);
}

/* The next generation starts after delay_ms (the policy's backoff). */
static void schedule_restart(uint32_t delay_ms, uint32_t in_window) {
  char msg_buf[128];
  struct nd_text msg;
  /* +1: mono_ms() truncates, so "now" may already be up to 1 ms old;
   * the delay is a lower bound and must never come out shorter. */
  int64_t now = mono_ms();
  restart_at = delay_ms > 0 ? now + delay_ms + 1 : now;
  st.restart_at_ms = real_ms() + delay_ms;
  st.restart_delay_ms = delay_ms;
  log_begin(40, "restart");
  put_int("delayMs", delay_ms);
  put_int("restart", st.restarts + 1);
  put_int("deathsInWindow", in_window);
  text_init(&msg, msg_buf, sizeof msg_buf);
  text_str(&msg, "restarting in ");
  text_u64(&msg, delay_ms);
  text_str(&msg, " ms (restart ");
  text_u64(&msg, st.restarts + 1);
  text_str(&msg, ")");
  log_end(msg.buf);
  set_state(ND_STATE_RESTARTING);
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
  /* Whatever it left behind goes before anything else starts (but not
   * what belongs to a generation still alive: graceful restart). */
  kill_generation_leftovers(dead);

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
  if (stopping) {
    if (!others_alive(0)) finish_stop();
    write_state();
    return;
  }

  char how[64], msg_buf[256];
  struct nd_text msg;
  describe_status(how, sizeof how, wstatus);
  struct nd_decision d = nd_policy_on_death(&cfg->policy, &tally, mono_ms(), wstatus);
  st.deaths = tally.deaths;
  st.deaths_in_window = d.in_window;
  log_begin(d.verdict == ND_VERDICT_RESPAWN ? 40 : 50, "exit");
  put_int("generation", st.generation);
  put_int("daemonPid", dead);
  put_status(wstatus);
  put_int("uptimeMs", uptime);
  text_init(&msg, msg_buf, sizeof msg_buf);
  text_str(&msg, "the daemon (pid ");
  text_i64(&msg, dead);
  text_str(&msg, ") exited with ");
  text_str(&msg, how);
  log_end(msg.buf);

  switch (d.verdict) {
    case ND_VERDICT_RESPAWN:
      if (!graceful_takes_over(d.delay_ms)) schedule_restart(d.delay_ms, d.in_window);
      return;
    case ND_VERDICT_CLEAN_EXIT:
      end_for_good(ND_REASON_CLEAN_EXIT, "the daemon exited with code 0; --respawn on-failure does not restart a clean exit");
      break;
    case ND_VERDICT_NO_RESPAWN_EXIT:
      text_init(&msg, msg_buf, sizeof msg_buf);
      text_str(&msg, "the daemon exited with ");
      text_str(&msg, how);
      text_str(&msg, ", listed in --no-respawn-exit: not restarted");
      end_for_good(ND_REASON_NO_RESPAWN_EXIT, msg.buf);
      break;
    case ND_VERDICT_GIVE_UP:
      graceful_end_all();
      st.reason = ND_REASON_CRASH_LOOP;
      st.state = ND_STATE_FAILED;
      log_begin(50, "gave-up");
      put_int("deaths", d.in_window);
      put_int("windowMs", cfg->policy.window_ms);
      put_status(wstatus);
      text_init(&msg, msg_buf, sizeof msg_buf);
      text_str(&msg, "gave up: ");
      text_u64(&msg, d.in_window);
      text_str(&msg, " deaths within ");
      text_u64(&msg, cfg->policy.window_ms);
      text_str(&msg, " ms (limit ");
      text_u64(&msg, cfg->policy.limit);
      text_str(&msg, "/");
      text_u64(&msg, cfg->policy.window_ms);
      text_str(&msg, " ms); last: ");
      text_str(&msg, how);
      log_end(msg.buf);
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

/* ------------------------------------------------------ graceful restart */

/*
 * SIGUSR2 asks for one. A new generation is forked from the same plan as
 * every other (so the code on disk now is what starts), alongside the
 * current one, and takes over only once it called ready(): then the
 * current one gets TERM and drains, with KILL after the stop timeout. A new
 * generation that exits, fails its checklist or misses readiness is killed
 * with whatever it left behind, and the current one keeps serving. None of
 * that is a death in the policy's eyes (no backoff, no crash-loop count),
 * nor is the replaced one's exit while it drains. A second request while
 * one is in progress, or while the replaced generation still drains, is
 * refused, not queued. The outcome goes to the state file, which only the
 * supervisor can write: that is where `restart --graceful` reads it
 * (docs/supervision.md).
 */
static int attempt_open;      /* graceful_seq is not decided yet */
static int64_t attempt_asked; /* when it was asked for (monotonic ms) */
/* The current generation died during the attempt: the new one takes over
 * when ready; if it fails, the respawn the policy chose follows. */
static int deferred_respawn;
static uint32_t deferred_delay;

static void graceful_reaped(pid_t p, int status) {
  if (next.pid > 0 && p == next.pid) {
    next.exited = 1;
    next.status = status;
  }
  if (draining_pid > 0 && p == draining_pid) {
    draining_exited = 1;
    draining_status = status;
  }
}

static void close_next_pipes(void) {
  if (next.rep_r >= 0) close(next.rep_r);
  if (next.ready_r >= 0) close(next.ready_r);
  next.rep_r = next.ready_r = -1;
}

static void clear_next(void) {
  close_next_pipes();
  memset(&next, 0, sizeof next);
  next.rep_r = next.ready_r = -1;
}

static void graceful_resolve(uint32_t outcome, int32_t value, uint32_t stage) {
  if (!attempt_open) return;
  attempt_open = 0;
  st.graceful_done = st.graceful_seq;
  st.graceful_outcome = outcome;
  st.graceful_value = value;
  st.graceful_stage = stage;
  int64_t took = mono_ms() - attempt_asked;
  st.graceful_took_ms = took < 0 ? 0 : (uint32_t)took;
}

static void graceful_refuse(pid_t from, uint32_t why, const char *msg) {
  st.refusals++;
  st.refused_pid = from;
  st.refused_why = why;
  log_begin(40, "graceful-refused");
  put_int("requester", from);
  log_end(msg);
  write_state();
}

static void graceful_request(pid_t from) {
  if (!cfg->want_ready) {
    graceful_refuse(from, ND_REFUSED_NO_WAIT_READY,
                    "graceful restart refused: the service was started without --wait-ready, so no readiness can gate the hand-over");
    return;
  }
  if (stopping) {
    graceful_refuse(from, ND_REFUSED_STOPPING, "graceful restart refused: the service is being stopped");
    return;
  }
  if (next.pid > 0) {
    graceful_refuse(from, ND_REFUSED_IN_PROGRESS, "graceful restart refused: one is already in progress");
    return;
  }
  if (draining_pid > 0) {
    graceful_refuse(from, ND_REFUSED_DRAINING, "graceful restart refused: the generation the last one replaced is still draining");
    return;
  }
  if (launching || gen_pid <= 0 || rep_r >= 0 || !(st.flags & ND_STATE_F_READY)) {
    graceful_refuse(from, ND_REFUSED_NOT_READY, "graceful restart refused: no generation is up and ready to hand over from");
    return;
  }
  attempt_open = 1;
  attempt_asked = mono_ms();
  st.graceful_seq++;
  st.graceful_requester = from;
  st.graceful_old_pid = gen_pid;
  st.graceful_new_pid = 0;
  st.graceful_ready_ms = 0;
  pid_t pid = 0;
  int err = fork_generation(&pid, &next.rep_r, &next.ready_r);
  if (err) {
    log_begin(50, "graceful-failed");
    put_int("errno", err);
    log_end("graceful restart failed: cannot fork a new generation; the current one keeps serving");
    graceful_resolve(ND_GRACEFUL_START_FAILED, err, ND_STAGE_fork);
    write_state();
    return;
  }
  next.pid = pid;
  next.started = mono_ms();
  next.started_real = real_ms();
  next.exec_deadline = next.started + EXEC_DEADLINE_MS;
  st.graceful_new_pid = pid;
  log_begin(30, "graceful-start");
  put_int("generation", st.generation + 1);
  put_int("daemonPid", pid);
  put_int("oldPid", gen_pid);
  put_int("requester", from);
  log_end("graceful restart: started a new generation alongside the current one");
  write_state();
}

/* The new generation is ready: it becomes the current one, and the one it
 * replaces gets TERM and drains. */
static void hand_over(void) {
  int64_t now = mono_ms();
  pid_t old = gen_pid;
  st.graceful_ready_ms = (uint32_t)(now - next.started);
  if (old > 0) {
    close_gen_pipes();
    kill(old, SIGTERM); /* our unreaped child */
    draining_pid = old;
    draining_exited = 0;
    drain_deadline = now + cfg->stop_timeout_ms;
  }
  gen_pid = next.pid;
  gen_exited = 0;
  gen_started = next.started;
  exec_ok = 1;
  exec_failed = 0;
  exec_deadline = window_deadline = restart_at = 0;
  good_at = now + READY_GOOD_MS;
  st.generation++;
  st.restarts++;
  st.flags |= ND_STATE_F_READY;
  st.flags &= ~(uint32_t)ND_STATE_F_GOOD_START;
  st.daemon_started_ms = next.started_real;
  st.restart_at_ms = 0;
  st.restart_delay_ms = 0;
  st.state = ND_STATE_RUNNING;
  deferred_respawn = 0;
  clear_next();
  graceful_resolve(ND_GRACEFUL_OK, 0, 0);
  log_begin(30, "graceful-ready");
  put_int("generation", st.generation);
  put_int("daemonPid", gen_pid);
  if (old > 0) put_int("oldPid", old);
  put_int("readyMs", st.graceful_ready_ms);
  put_int("stopTimeoutMs", cfg->stop_timeout_ms);
  log_end(old > 0 ? "graceful restart: the new generation is ready and serves; the old one got SIGTERM and drains"
                  : "graceful restart: the new generation is ready and serves");
  write_state();
}

static void read_next_records(void) {
  struct nd_record r;
  ssize_t got = RETRY(read(next.rep_r, &r, sizeof r));
  if (got == (ssize_t)sizeof r) {
    take_record(&r, &next.exec_ok, &next.exec_failed, &next.first_failure);
    return;
  }
  close(next.rep_r);
  next.rep_r = -1;
  if (next.exec_ok && !next.exec_failed) {
    /* Exec'd: the readiness wait starts, as a respawned generation's does. */
    next.exec_deadline = 0;
    if (cfg->window_ms > 0) next.ready_deadline = mono_ms() + cfg->window_ms;
  }
  /* Else the checklist failed: its exit follows. */
}

static void read_next_ready(void) {
  if (ready_read(&next.ready_r, &next.ready_line)) hand_over();
}

/* The new generation died before it was ready: the current one goes on. */
static void on_next_death(int wstatus) {
  pid_t dead = next.pid;
  drain_records_of(&next.rep_r, read_next_records);
  uint32_t outcome = ND_GRACEFUL_EXITED, stage = 0;
  int32_t value = wstatus;
  if (next.killed_why == ND_GRACEFUL_NOT_READY) {
    outcome = ND_GRACEFUL_NOT_READY;
    value = (int32_t)cfg->window_ms;
  } else if (next.killed_why == ND_GRACEFUL_START_FAILED) {
    outcome = ND_GRACEFUL_START_FAILED;
    stage = ND_STAGE_exec;
    value = ETIMEDOUT;
  } else if (next.exec_failed) {
    outcome = ND_GRACEFUL_START_FAILED;
    stage = next.first_failure.stage;
    value = next.first_failure.err;
  }
  clear_next();
  kill_generation_leftovers(dead);
  char how[64], msg_buf[256];
  struct nd_text msg;
  describe_status(how, sizeof how, wstatus);
  log_begin(50, "graceful-failed");
  put_int("daemonPid", dead);
  put_status(wstatus);
  if (stage) put_int("stage", stage);
  text_init(&msg, msg_buf, sizeof msg_buf);
  text_str(&msg, "graceful restart failed: the new generation (pid ");
  text_i64(&msg, dead);
  text_str(&msg, ") ");
  text_str(&msg, outcome == ND_GRACEFUL_NOT_READY      ? "did not call ready() in time and was stopped"
                 : outcome == ND_GRACEFUL_START_FAILED ? "failed to start"
                                                       : "exited before ready()");
  text_str(&msg, " (");
  text_str(&msg, how);
  text_str(&msg, "); ");
  text_str(&msg, gen_pid > 0 ? "the current one keeps serving" : "no generation is left");
  log_end(msg.buf);
  graceful_resolve(outcome, value, stage);
  if (stopping) {
    if (!others_alive(0)) finish_stop();
  } else if (deferred_respawn && gen_pid <= 0) {
    deferred_respawn = 0;
    schedule_restart(deferred_delay, st.deaths_in_window);
  }
  write_state();
}

/* The replaced generation is gone: not a death, whatever its status. */
static void on_drained(int wstatus) {
  pid_t dead = draining_pid;
  draining_pid = 0;
  drain_deadline = 0;
  kill_generation_leftovers(dead);
  log_begin(30, "drained");
  put_int("daemonPid", dead);
  put_status(wstatus);
  log_end("the generation replaced by a graceful restart is gone");
  if (stopping && !others_alive(0)) finish_stop();
  write_state();
}

static void graceful_timers(int64_t now) {
  if (next.pid > 0 && next.exec_deadline && now >= next.exec_deadline) {
    next.exec_deadline = 0;
    next.killed_why = ND_GRACEFUL_START_FAILED;
    kill(next.pid, SIGKILL);
  }
  if (next.pid > 0 && next.ready_deadline && now >= next.ready_deadline) {
    /* TERM first: a generation that is not ready may already accept
     * connections on the shared sockets, and a drain loses none of them. */
    next.ready_deadline = 0;
    next.killed_why = ND_GRACEFUL_NOT_READY;
    next.kill_deadline = now + cfg->stop_timeout_ms;
    log_begin(40, "graceful-not-ready");
    put_int("daemonPid", next.pid);
    put_int("waitReadyMs", cfg->window_ms);
    put_int("stopTimeoutMs", cfg->stop_timeout_ms);
    log_end("graceful restart: the new generation did not call ready() in time: SIGTERM, SIGKILL after the stop timeout");
    kill(next.pid, SIGTERM);
  }
  if (next.pid > 0 && next.kill_deadline && now >= next.kill_deadline) {
    next.kill_deadline = 0;
    kill(next.pid, SIGKILL);
  }
  if (draining_pid > 0 && drain_deadline && now >= drain_deadline) {
    drain_deadline = 0;
    log_begin(40, "drain-timeout");
    put_int("daemonPid", draining_pid);
    put_int("stopTimeoutMs", cfg->stop_timeout_ms);
    log_end("the replaced generation outlived the stop timeout: SIGKILL");
    kill(draining_pid, SIGKILL);
  }
}

/* A stop stops both generations, and nothing new starts. */
static void graceful_on_stop(void) {
  graceful_resolve(ND_GRACEFUL_STOPPED, 0, 0);
  deferred_respawn = 0;
  if (next.pid > 0) {
    /* Its READY must not hand over any more: its pipes close here. */
    next.exec_deadline = next.ready_deadline = next.kill_deadline = 0;
    close_next_pipes();
    kill(next.pid, SIGTERM);
  }
}

/* The service ends (the policy's verdict on the current generation):
 * neither the new generation nor a draining one outlives it. */
static void graceful_end_all(void) {
  graceful_resolve(ND_GRACEFUL_ENDED, 0, 0);
  if (next.pid <= 0 && draining_pid <= 0) return;
  if (next.pid > 0) kill(next.pid, SIGKILL);
  if (draining_pid > 0) kill(draining_pid, SIGKILL);
  kill_leftovers();
  clear_next();
  draining_pid = 0;
}

/* The current generation died while a new one starts: that one is the
 * respawn (no second generation is started); the policy's delay applies
 * only if it fails too. */
static int graceful_takes_over(uint32_t delay_ms) {
  if (next.pid <= 0) return 0;
  deferred_respawn = 1;
  deferred_delay = delay_ms;
  log_begin(40, "graceful-takes-over");
  put_int("daemonPid", next.pid);
  log_end("the new generation of the graceful restart in progress takes over when ready");
  set_state(ND_STATE_RUNNING);
  return 1;
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
    leftovers_signal_all();
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
  graceful_timers(now);
  /* While generations overlap (/proc attribution only): whose orphans are. */
  leftovers_look();
}

static int64_t next_deadline(void) {
  int64_t t[] = {stop_deadline,  exec_deadline,       window_deadline,      launching ? 0 : good_at,
                 restart_at,     next.exec_deadline,  next.ready_deadline,  drain_deadline,
                 next.kill_deadline, leftovers_next_look()};
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
      /* Handling one death may reap another (killing leftovers reaps). */
      for (;;) {
        if (gen_exited) {
          gen_exited = 0;
          if (gen_pid > 0) on_death(gen_status);
        } else if (next.exited) {
          next.exited = 0;
          if (next.pid > 0) on_next_death(next.status);
        } else if (draining_exited) {
          draining_exited = 0;
          if (draining_pid > 0) on_drained(draining_status);
        } else {
          break;
        }
      }
      break;
    case SIGUSR2:
      graceful_request((pid_t)si->ssi_pid);
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

/* The pid file's path, from the state file's (`<pidFile>.state` at
 * FD_STATE): it names the service's cgroup. NULL when unknown. */
static const char *pid_file_path(void) {
  static char path[PATH_MAX];
  char fdpath[32];
  text_number_path(fdpath, sizeof fdpath, "/proc/self/fd/", FD_STATE, "");
  ssize_t n = readlink(fdpath, path, sizeof path - 1);
  if (n <= 0) return NULL;
  path[n] = '\0';
  char *suffix = strstr(path, ".state");
  if (suffix != NULL) *suffix = '\0';
  return path;
}

/* How what a generation leaves behind will be found (leftovers.h): said
 * in the state file, and in the log's "launched" line. */
static void start_leftovers(void) {
  struct leftovers_config lc = {self, cfg->sid, !degraded, cfg->fault_no_cgroup, pid_file_path(), reap_all};
  leftovers_init(&lc, &mechanism);
  if (mechanism.cgroup) st.flags |= ND_STATE_F_CGROUP;
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
  /* Who a generation runs as, and when we started: what status and stop
   * check a pid against once we are gone (supervise_state.h, version 3). */
  st.service_uid = c->set_ids ? (uint32_t)c->uid : (uint32_t)geteuid();
  st.supervisor_start_ticks = start_ticks_of(self);
  if (c->want_ready) st.flags |= ND_STATE_F_WANT_READY;
  st.wait_ready_ms = c->want_ready ? c->window_ms : 0;
  next.rep_r = next.ready_r = -1;

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
  sigaddset(&set, SIGUSR2);
  sigprocmask(SIG_BLOCK, &set, NULL);
  signal(SIGUSR1, SIG_IGN);
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
  start_leftovers();

  start_or_count();

  for (;;) {
    struct pollfd fds[5];
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
    int next_rep_i = -1, next_ready_i = -1;
    if (next.rep_r >= 0) {
      fds[n].fd = next.rep_r;
      fds[n].events = POLLIN;
      next_rep_i = (int)n++;
    }
    if (next.ready_r >= 0 && next.rep_r < 0) {
      fds[n].fd = next.ready_r;
      fds[n].events = POLLIN;
      next_ready_i = (int)n++;
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
      if (next_rep_i >= 0 && fds[next_rep_i].revents && next.rep_r >= 0) read_next_records();
      if (next_ready_i >= 0 && fds[next_ready_i].revents && next.ready_r >= 0) read_next_ready();
      if (fds[0].revents) {
        struct signalfd_siginfo si;
        while (RETRY(read(sigfd, &si, sizeof si)) == (ssize_t)sizeof si) on_signal(&si);
      }
    }
    on_timers();
  }
}
