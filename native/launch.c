/*
 * The launch: the first generation's window (see launch.h).
 */
#define _GNU_SOURCE
#include "launch.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "clock.h"
#include "evlog.h"
#include "pid1.h"
#include "protocol.h"
#include "records.h"
#include "respawn.h"

void launch_record(struct service *s, int stage, int sys, int err, int64_t value) {
  if (s->status_fd >= 0) (void)daemon_send_record(s->status_fd, stage, sys, err, value);
}

/* The caller's pipe closes (its EOF ends the launch); the slot stays
 * occupied (pointed at /dev/null, fd 0) so that no later pipe lands on it. */
static void close_status(struct service *s) {
  s->status_fd = -1;
  (void)dup3(0, ND_HELPER_FD_STATUS, O_CLOEXEC);
}

/* The launch went well: g is the current generation. */
static void launched(struct service *s, struct generation *g) {
  close_status(s);
  g->role = GEN_CURRENT;
  /* Stopped meanwhile: it stays a stop. */
  service_enter(s, s->phase == PHASE_STARTING ? PHASE_RUNNING : s->phase);
  evlog_begin(30, "launched");
  evlog_int("generation", s->st.generation);
  evlog_int("daemonPid", g->pid);
  /* Each generation in a cgroup of its own; else why not (the /proc attribution). */
  evlog_str("leftovers", s->mechanism.cgroup ? "cgroup" : "proc");
  if (s->mechanism.cgroup) {
    evlog_str("cgroup", s->mechanism.path);
  } else {
    evlog_str("cgroupStep", s->mechanism.step);
    if (s->mechanism.err) evlog_int("cgroupErrno", s->mechanism.err);
  }
  evlog_end("supervising the daemon");
  /* `run`: the ready file, READY=1 to systemd; not for one kept on a
   * timeout (--keep-on-timeout) that never said ready(). */
  if (g->ready) pid1_ready(s);
  /* Instance 0 decided the launch; the others start now, each on its own
   * (a stop meanwhile starts none). */
  if (s->phase == PHASE_RUNNING)
    for (uint32_t i = 1; i < s->cfg->instances; i++) respawn_start(s, (int)i);
}

void launch_fail(struct service *s) {
  struct generation *g = gen_find(s->gens, GEN_LAUNCH);
  if (g != NULL && g->pid > 0 && !g->exited) kill(g->pid, SIGKILL);
  service_kill_all(s);
  service_finish(s, ND_STATE_FAILED, ND_REASON_LAUNCH_FAILED, 1);
}

/* It exec'd: the window starts (none asked for: launched). */
void launch_exec(struct service *s, struct generation *g) {
  int64_t now = clock_mono_ms();
  g->due[GEN_T_EXEC] = 0;
  if (!s->cfg->want_ready) g->ready = 1; /* nothing to wait for: it serves once it runs */
  if (s->cfg->window_ms == 0) launched(s, g);
  else g->due[GEN_T_READY] = now + s->cfg->window_ms;
  if (!s->cfg->want_ready) g->due[GEN_T_UP] = g->started + s->cfg->min_uptime_ms;
}

void launch_ready(struct service *s, struct generation *g) {
  g->ready = 1;
  s->st.flags |= ND_STATE_F_READY;
  g->due[GEN_T_UP] = clock_mono_ms() + RESPAWN_READY_GOOD_MS;
  g->due[GEN_T_READY] = 0;
  launch_record(s, ND_STAGE_ready, 0, 0, g->pid);
  launched(s, g);
  service_write(s);
}

/* It died in its window: the launch failed, with its last words. */
void launch_death(struct service *s, struct generation *g) {
  int wstatus = g->status, failed = g->exec_failed, exec_ok = g->exec_ok;
  pid1_launch_failed(s, g);
  respawn_ended(s, g);
  if (failed || !exec_ok) {
    /* Died without a failure record: killed before exec. */
    if (!failed) launch_record(s, ND_STAGE_exec, 0, ND_EEXITED, wstatus);
  } else {
    launch_record(s, s->cfg->want_ready ? ND_STAGE_ready : ND_STAGE_running, 0, ND_EEXITED, wstatus);
  }
  launch_fail(s);
}

/* The window ran out with the generation alive: launched after a grace
 * period (no readiness asked for) or with --keep-on-timeout; else it is
 * killed, and the launch failed. */
void launch_window_end(struct service *s, struct generation *g) {
  if (!s->cfg->want_ready) {
    launch_record(s, ND_STAGE_running, 0, 0, s->cfg->window_ms);
    launched(s, g);
  } else if (s->cfg->keep_on_timeout) {
    launch_record(s, ND_STAGE_ready, 0, ND_ETIMEOUT, s->cfg->window_ms);
    launched(s, g);
  } else {
    kill(g->pid, SIGKILL);
    pid1_not_ready(s, g);
    launch_record(s, ND_STAGE_ready, 0, ND_ETIMEOUT, s->cfg->window_ms);
    /* Its death ends the launch; no other record may follow. */
    close_status(s);
    service_kill_all(s);
    service_finish(s, ND_STATE_FAILED, ND_REASON_LAUNCH_FAILED, 1);
  }
}
