/*
 * The helper's side of the start-up window (see window.h).
 */
#define _GNU_SOURCE
#include "window.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "proc.h"
#include "protocol.h"
#include "ready_line.h"
#include "records.h"
#include "retry.h"

static int poll_timeout(int64_t left) { return left > INT_MAX ? INT_MAX : left < 0 ? 0 : (int)left; }

int window_reap(pid_t pid) {
  int status = 0;
  if (RETRY(waitpid(pid, &status, 0)) < 0) return -1;
  return status;
}

void window_kill_and_reap(pid_t daemon) {
  kill(daemon, SIGKILL);
  window_reap(daemon);
}

int window_kill_descendants(void) {
  int64_t deadline = clock_mono_ms() + ND_KILL_DESCENDANTS_MS;
  int group_signalled = 0;
  for (;;) {
    if (proc_kill_children(getpid()) < 0 && !group_signalled) {
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
    if (clock_mono_ms() >= deadline) return -1;
    clock_sleep_ms(2);
  }
}

/* The daemon exited in the window (status: its wait status): report it,
 * and take down whatever it left behind. */
static void fail_window(int stage, int status) {
  helper_report(stage, 0, ND_EEXITED, status);
  window_kill_descendants();
}

int window_forward_until_exec(int rep_r, pid_t daemon, int handoff) {
  struct nd_record r;
  int exec_ok = 0, failed = 0;
  int64_t deadline = clock_mono_ms() + ND_EXEC_DEADLINE_MS;
  for (;;) {
    struct pollfd p = {rep_r, POLLIN, 0};
    int n = (int)RETRY(poll(&p, 1, poll_timeout(deadline - clock_mono_ms())));
    if (n == 0) {
      window_kill_and_reap(daemon);
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
    /* The daemon waits for this process to be gone before its execve,
     * whose failure it reports to the caller itself. */
    if (handoff && exec_ok && !failed) return 0;
  }
  if (failed || !exec_ok) {
    int status = window_reap(daemon);
    /* Died without a failure record: killed by a signal before exec. */
    if (!failed) helper_report(ND_STAGE_exec, ND_SYS_default, status < 0 ? ND_EHELPER : ND_EEXITED, status);
    return -1;
  }
  return 0;
}

int window_watch(const struct plan *pl, pid_t daemon, int ready_r) {
  int stage = ready_r >= 0 ? ND_STAGE_ready : ND_STAGE_running;
  int pidfd = proc_pidfd_open(daemon);
  int64_t deadline = clock_mono_ms() + pl->h.window_ms;
  struct ready_line line = {0};

  for (;;) {
    int64_t left = deadline - clock_mono_ms();
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
      window_kill_and_reap(daemon);
      window_kill_descendants();
      return -1;
    }
    /* One read per pass, then the exit and the deadline are looked at in
     * the same pass: a pipe that never runs dry (text other than READY=1)
     * cannot hold the helper in its window. */
    if (ready_i >= 0 && n > 0 && fds[ready_i].revents) {
      if (ready_line_read(&ready_r, &line)) {
        helper_report(ND_STAGE_ready, 0, 0, daemon);
        return 0;
      }
    }
    int exited = 0, status = 0;
    if (pid_i >= 0 && n > 0 && fds[pid_i].revents) {
      status = window_reap(daemon);
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
    window_kill_and_reap(daemon);
    window_kill_descendants();
  }
  helper_report(ND_STAGE_ready, 0, ND_ETIMEOUT, pl->h.window_ms);
  return -1;
}
