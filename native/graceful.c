/*
 * Graceful restart: the hand-over from one generation to the next (see
 * graceful.h).
 */
#define _GNU_SOURCE
#include "graceful.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "clock.h"
#include "evlog.h"
#include "respawn.h"
#include "text.h"

/* Attempt graceful_seq is decided. */
static void resolve(struct service *s, uint32_t outcome, int32_t value, uint32_t stage) {
  if (!s->graceful.open) return;
  s->graceful.open = 0;
  s->st.graceful_done = s->st.graceful_seq;
  s->st.graceful_outcome = outcome;
  s->st.graceful_value = value;
  s->st.graceful_stage = stage;
  int64_t took = clock_mono_ms() - s->graceful.asked;
  s->st.graceful_took_ms = took < 0 ? 0 : (uint32_t)took;
}

static void refuse(struct service *s, pid_t from, uint32_t why, const char *msg) {
  s->st.refusals++;
  s->st.refused_pid = from;
  s->st.refused_why = why;
  evlog_begin(40, "graceful-refused");
  evlog_int("requester", from);
  evlog_end(msg);
  service_write(s);
}

void graceful_request(struct service *s, int arg) {
  pid_t from = (pid_t)arg;
  /* With instances, a graceful restart would be a rolling one, one instance
   * at a time: not built yet (docs/supervision.md#instances). */
  if (s->cfg->instances > 1) {
    refuse(s, from, ND_REFUSED_INSTANCES, "graceful restart refused: the service runs several instances, and a rolling restart is not built yet");
    return;
  }
  if (!s->cfg->want_ready) {
    refuse(s, from, ND_REFUSED_NO_WAIT_READY,
           "graceful restart refused: the service was started without --wait-ready, so no readiness can gate the hand-over");
    return;
  }
  if (s->phase == PHASE_STOPPING) {
    refuse(s, from, ND_REFUSED_STOPPING, "graceful restart refused: the service is being stopped");
    return;
  }
  if (gen_find(s->gens, GEN_NEXT) != NULL) {
    refuse(s, from, ND_REFUSED_IN_PROGRESS, "graceful restart refused: one is already in progress");
    return;
  }
  if (gen_find(s->gens, GEN_DRAINING) != NULL) {
    refuse(s, from, ND_REFUSED_DRAINING, "graceful restart refused: the generation the last one replaced is still draining");
    return;
  }
  struct generation *cur = gen_find(s->gens, GEN_CURRENT);
  if (cur == NULL || cur->pid <= 0 || cur->rep_r >= 0 || !(s->st.flags & ND_STATE_F_READY)) {
    refuse(s, from, ND_REFUSED_NOT_READY, "graceful restart refused: no generation is up and ready to hand over from");
    return;
  }
  s->graceful.open = 1;
  s->graceful.asked = clock_mono_ms();
  s->st.graceful_seq++;
  s->st.graceful_requester = from;
  s->st.graceful_old_pid = cur->pid;
  s->st.graceful_new_pid = 0;
  s->st.graceful_ready_ms = 0;
  struct generation *g = gen_claim(GEN_NEXT);
  if (g != NULL) g->release = s->st.graceful_seq;
  int err = g != NULL ? gen_fork(g, s->cfg, s->sigfd) : EAGAIN;
  if (err) {
    if (g != NULL) gen_release(g);
    evlog_begin(50, "graceful-failed");
    evlog_int("errno", err);
    evlog_end("graceful restart failed: cannot fork a new generation; the current one keeps serving");
    resolve(s, ND_GRACEFUL_START_FAILED, err, ND_STAGE_fork);
    service_write(s);
    return;
  }
  s->st.graceful_new_pid = g->pid;
  evlog_begin(30, "graceful-start");
  evlog_int("generation", s->st.generation + 1);
  evlog_int("daemonPid", g->pid);
  evlog_int("oldPid", cur->pid);
  evlog_int("requester", from);
  evlog_end("graceful restart: started a new generation alongside the current one");
  service_write(s);
}

/* Exec'd: the readiness wait starts, as a respawned generation's does. */
void graceful_exec(struct service *s, struct generation *g) {
  g->due[GEN_T_EXEC] = 0;
  if (s->cfg->window_ms > 0) g->due[GEN_T_READY] = clock_mono_ms() + s->cfg->window_ms;
}

/* Ready: it becomes the current one, and the one it replaces gets TERM
 * and drains. */
void graceful_ready(struct service *s, struct generation *g) {
  int64_t now = clock_mono_ms();
  struct generation *old = gen_find(s->gens, GEN_CURRENT);
  pid_t old_pid = old != NULL ? old->pid : 0;
  s->st.graceful_ready_ms = (uint32_t)(now - g->started);
  if (old_pid > 0) {
    gen_close_pipes(old);
    if (!old->exited) kill(old_pid, SIGTERM); /* our unreaped child */
    old->role = GEN_DRAINING;
    memset(old->due, 0, sizeof old->due);
    old->due[GEN_T_KILL] = now + s->cfg->stop_timeout_ms;
  }
  g->role = GEN_CURRENT;
  g->ready = 1;
  g->exec_ok = 1;
  g->exec_failed = 0;
  g->killed_why = 0;
  memset(g->due, 0, sizeof g->due);
  g->due[GEN_T_UP] = now + RESPAWN_READY_GOOD_MS;
  s->respawn[0].at = 0;
  s->respawn[0].deferred = 0;
  s->st.generation++;
  s->st.restarts++;
  s->st.flags |= ND_STATE_F_READY;
  s->st.flags &= ~(uint32_t)ND_STATE_F_GOOD_START;
  s->st.daemon_started_ms = g->started_real;
  s->st.restart_at_ms = 0;
  s->st.restart_delay_ms = 0;
  resolve(s, ND_GRACEFUL_OK, 0, 0);
  evlog_begin(30, "graceful-ready");
  evlog_int("generation", s->st.generation);
  evlog_int("daemonPid", g->pid);
  if (old_pid > 0) evlog_int("oldPid", old_pid);
  evlog_int("readyMs", s->st.graceful_ready_ms);
  evlog_int("stopTimeoutMs", s->cfg->stop_timeout_ms);
  evlog_end(old_pid > 0 ? "graceful restart: the new generation is ready and serves; the old one got SIGTERM and drains"
                        : "graceful restart: the new generation is ready and serves");
  service_enter(s, PHASE_RUNNING);
}

/* The new generation died before it was ready: the current one goes on. */
void graceful_failed(struct service *s, struct generation *g) {
  pid_t dead = g->pid;
  int wstatus = g->status;
  uint32_t outcome = ND_GRACEFUL_EXITED, stage = 0;
  int32_t value = wstatus;
  if (g->killed_why == ND_GRACEFUL_NOT_READY) {
    outcome = ND_GRACEFUL_NOT_READY;
    value = (int32_t)s->cfg->window_ms;
  } else if (g->killed_why == ND_GRACEFUL_START_FAILED) {
    outcome = ND_GRACEFUL_START_FAILED;
    stage = ND_STAGE_exec;
    value = ETIMEDOUT;
  } else if (g->exec_failed) {
    outcome = ND_GRACEFUL_START_FAILED;
    stage = g->first_failure.stage;
    value = g->first_failure.err;
  }
  gen_release(g);
  service_kill_leftovers(s, g);
  struct generation *cur = gen_find(s->gens, GEN_CURRENT);
  char how[64], msg_buf[256];
  struct nd_text msg;
  evlog_describe(how, sizeof how, wstatus);
  evlog_begin(50, "graceful-failed");
  evlog_int("daemonPid", dead);
  evlog_status(wstatus);
  if (stage) evlog_int("stage", stage);
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
  text_str(&msg, cur != NULL && cur->pid > 0 ? "the current one keeps serving" : "no generation is left");
  evlog_end(msg.buf);
  resolve(s, outcome, value, stage);
  if (s->phase == PHASE_STOPPING) {
    service_stop_if_done(s);
  } else if (s->respawn[0].deferred && cur == NULL) {
    s->respawn[0].deferred = 0;
    respawn_schedule(s, 0, s->respawn[0].deferred_delay, s->st.deaths_in_window);
  }
  service_write(s);
}

/* Not exec'd in time. */
void graceful_exec_late(struct service *s, struct generation *g) {
  (void)s;
  g->killed_why = ND_GRACEFUL_START_FAILED;
  kill(g->pid, SIGKILL);
}

/* No ready() in time: TERM first, KILL after the stop timeout. A
 * generation that is not ready may already accept connections on the
 * shared sockets, and a drain loses none of them. */
void graceful_not_ready(struct service *s, struct generation *g) {
  g->killed_why = ND_GRACEFUL_NOT_READY;
  g->due[GEN_T_KILL] = clock_mono_ms() + s->cfg->stop_timeout_ms;
  evlog_begin(40, "graceful-not-ready");
  evlog_int("daemonPid", g->pid);
  evlog_int("waitReadyMs", s->cfg->window_ms);
  evlog_int("stopTimeoutMs", s->cfg->stop_timeout_ms);
  evlog_end("graceful restart: the new generation did not call ready() in time: SIGTERM, SIGKILL after the stop timeout");
  kill(g->pid, SIGTERM);
}

void graceful_kill(struct service *s, struct generation *g) {
  (void)s;
  kill(g->pid, SIGKILL);
}

/* The replaced generation is gone: not a death, whatever its status. */
void graceful_drained(struct service *s, struct generation *g) {
  pid_t dead = g->pid;
  int wstatus = g->status;
  gen_release(g);
  service_kill_leftovers(s, g);
  evlog_begin(30, "drained");
  evlog_int("daemonPid", dead);
  evlog_status(wstatus);
  evlog_end("the generation replaced by a graceful restart is gone");
  if (s->phase == PHASE_STOPPING) service_stop_if_done(s);
  service_write(s);
}

void graceful_drain_late(struct service *s, struct generation *g) {
  evlog_begin(40, "drain-timeout");
  evlog_int("daemonPid", g->pid);
  evlog_int("stopTimeoutMs", s->cfg->stop_timeout_ms);
  evlog_end("the replaced generation outlived the stop timeout: SIGKILL");
  kill(g->pid, SIGKILL);
}

void graceful_on_stop(struct service *s) {
  resolve(s, ND_GRACEFUL_STOPPED, 0, 0);
  s->respawn[0].deferred = 0;
  struct generation *g = gen_find(s->gens, GEN_NEXT);
  if (g == NULL) return;
  /* Its READY must not hand over any more: its pipes close here. */
  memset(g->due, 0, sizeof g->due);
  gen_close_pipes(g);
  kill(g->pid, SIGTERM);
}

void graceful_end_all(struct service *s) {
  resolve(s, ND_GRACEFUL_ENDED, 0, 0);
  struct generation *next = gen_find(s->gens, GEN_NEXT), *draining = gen_find(s->gens, GEN_DRAINING);
  if (next == NULL && draining == NULL) return;
  if (next != NULL) kill(next->pid, SIGKILL);
  if (draining != NULL) kill(draining->pid, SIGKILL);
  service_kill_all(s);
  if (next != NULL) gen_release(next);
  if (draining != NULL) gen_release(draining);
}

int graceful_takes_over(struct service *s, uint32_t delay_ms) {
  struct generation *next = gen_find(s->gens, GEN_NEXT);
  if (next == NULL) return 0;
  s->respawn[0].deferred = 1;
  s->respawn[0].deferred_delay = delay_ms;
  evlog_begin(40, "graceful-takes-over");
  evlog_int("daemonPid", next->pid);
  evlog_end("the new generation of the graceful restart in progress takes over when ready");
  service_enter(s, PHASE_RUNNING);
  return 1;
}
