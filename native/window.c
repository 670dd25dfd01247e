/*
 * The helper's side of the start-up window (see window.h).
 */
#define _GNU_SOURCE
#include "window.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"
#include "ready_line.h"
#include "records.h"
#include "retry.h"
#include "text.h"

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int poll_timeout(int64_t left) { return left > INT_MAX ? INT_MAX : left < 0 ? 0 : (int)left; }

int reap(pid_t pid) {
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

void kill_and_reap(pid_t daemon) {
  kill(daemon, SIGKILL);
  reap(daemon);
}

/* SIGKILLs every child listed in /proc/self/task/<pid>/children (read
 * whole, so no pid is cut at a buffer's end); returns how many, or -1
 * when the list cannot be read (no /proc). */
static int kill_listed_children(void) {
  char path[64], buf[4096], tok[24];
  size_t toklen = 0;
  int count = 0;
  text_number_path(path, sizeof path, "/proc/self/task/", getpid(), "/children");
  int fd = RETRY(open(path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return -1;
  for (;;) {
    ssize_t n = RETRY(read(fd, buf, sizeof buf));
    if (n < 0) {
      close(fd);
      return -1;
    }
    /* One more pass with n == 0 ends the last token. */
    for (ssize_t i = 0; i <= n; i++) {
      char c = i < n ? buf[i] : ' ';
      if (c >= '0' && c <= '9') {
        if (toklen < sizeof tok - 1) tok[toklen++] = c;
        continue;
      }
      if (toklen > 0) {
        tok[toklen] = '\0';
        /* A number that is no pid (too long, out of range) is passed
         * over: cast to pid_t it could read as -1, every process. */
        const char *t = tok;
        uint64_t pid;
        if (text_parse_u64(&t, &pid) == 0 && pid > 0 && pid <= INT_MAX && kill((pid_t)pid, SIGKILL) == 0) count++;
        toklen = 0;
      }
      if (i == n) break;
    }
    if (n == 0) break;
  }
  close(fd);
  return count;
}

int kill_descendants(void) {
  int64_t deadline = now_ms() + ND_KILL_DESCENDANTS_MS;
  int group_signalled = 0;
  for (;;) {
    if (kill_listed_children() < 0 && !group_signalled) {
      /* No list (no /proc): what the daemon left in our process group
       * gets SIGTERM, which the helper, in that group too, ignores for the
       * moment (SIGKILL would take the helper with them). */
      struct sigaction ign = {.sa_handler = SIG_IGN}, old;
      sigemptyset(&ign.sa_mask);
      if (sigaction(SIGTERM, &ign, &old) == 0) {
        kill(0, SIGTERM);
        sigaction(SIGTERM, &old, NULL);
      }
      group_signalled = 1;
    }
    /* Reap whatever is gone, never blocking. */
    for (;;) {
      pid_t w = (pid_t)RETRY(waitpid(-1, NULL, WNOHANG));
      if (w < 0) return 0; /* ECHILD: none left */
      if (w == 0) break;
    }
    if (now_ms() >= deadline) return -1;
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

/* The daemon exited in the window (status: its wait status): report it,
 * and take down whatever it left behind. */
static void fail_window(int stage, int status) {
  helper_report(stage, 0, ND_EEXITED, status);
  kill_descendants();
}

int forward_until_exec(int rep_r, pid_t daemon) {
  struct nd_record r;
  int exec_ok = 0, failed = 0;
  int64_t deadline = now_ms() + ND_EXEC_DEADLINE_MS;
  for (;;) {
    struct pollfd p = {rep_r, POLLIN, 0};
    int n = (int)RETRY(poll(&p, 1, poll_timeout(deadline - now_ms())));
    if (n == 0) {
      kill_and_reap(daemon);
      helper_report(ND_STAGE_exec, ND_SYS_default, ND_ETIMEOUT, ND_EXEC_DEADLINE_MS);
      return -1;
    }
    ssize_t got = RETRY(read(rep_r, &r, sizeof r));
    if (got != (ssize_t)sizeof r) break; /* EOF (a partial record cannot happen) */
    helper_report(r.stage, r.syscall, r.err, r.value);
    if (r.err != 0) failed = 1;
    else if (r.stage == ND_STAGE_exec) exec_ok = 1;
    /* "exec" ok then another record: the execve itself failed. */
    if (r.err != 0 && r.stage == ND_STAGE_exec) exec_ok = 0;
  }
  if (failed || !exec_ok) {
    int status = reap(daemon);
    /* Died without a failure record: killed by a signal before exec. */
    if (!failed) helper_report(ND_STAGE_exec, ND_SYS_default, status < 0 ? ND_EHELPER : ND_EEXITED, status);
    return -1;
  }
  return 0;
}

/* One read of the ready pipe: 1 when READY=1 was seen as a line, 0
 * otherwise; at EOF or on an error, closes it and sets *fd to -1. */
static int read_ready(int *fd, struct ready_line *line) {
  char buf[4096];
  ssize_t r = RETRY(read(*fd, buf, sizeof buf));
  if (r > 0) return ready_line_feed(line, buf, (size_t)r);
  /* Closed without READY: only its exit or the timeout can follow. */
  close(*fd);
  *fd = -1;
  return r == 0 && ready_line_eof(line);
}

int watch_window(const struct plan *pl, pid_t daemon, int ready_r) {
  int stage = ready_r >= 0 ? ND_STAGE_ready : ND_STAGE_running;
  int pidfd = open_pidfd(daemon);
  int64_t deadline = now_ms() + pl->h.window_ms;
  struct ready_line line = {0};

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
      helper_report(stage, ND_SYS_default, errno, 0);
      kill_and_reap(daemon);
      kill_descendants();
      return -1;
    }
    /* One read per pass, then the exit and the deadline are looked at in
     * the same pass: a pipe that never runs dry (text other than READY=1)
     * cannot hold the helper in its window. */
    if (ready_i >= 0 && n > 0 && fds[ready_i].revents) {
      int r = read_ready(&ready_r, &line);
      if (r > 0) {
        helper_report(ND_STAGE_ready, 0, 0, daemon);
        return 0;
      }
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
      fail_window(stage, status);
      return -1;
    }
    if (left <= 0) break;
  }

  if (stage == ND_STAGE_running) {
    helper_report(ND_STAGE_running, 0, 0, pl->h.window_ms);
    return 0;
  }
  if (!(pl->h.flags & ND_PLAN_KEEP_ON_TIMEOUT)) {
    kill_and_reap(daemon);
    kill_descendants();
  }
  helper_report(ND_STAGE_ready, 0, ND_ETIMEOUT, pl->h.window_ms);
  return -1;
}
