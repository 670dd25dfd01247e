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

/* Is there a generation to hand over from: with one instance, the current
 * one, exec'd and ready; with several, any instance's. */
static int can_hand_over(struct service *s) {
  if (s->cfg->instances == 1) {
    struct generation *cur = gen_find(s->gens, GEN_CURRENT);
    return cur != NULL && cur->pid > 0 && cur->rep_r < 0 && (s->st.flags & ND_STATE_F_READY);
  }
  /* Instance 0 still decides the launch: the roll would pass it over. */
  if (s->phase == PHASE_STARTING) return 0;
  for (uint32_t i = 0; i < s->cfg->instances; i++) {
    struct generation *cur = gen_instance(s->gens, i);
    if (cur != NULL && cur->role == GEN_CURRENT && cur->pid > 0 && cur->rep_r < 0 && cur->ready) return 1;
  }
  return 0;
}

/* A new generation of instance i beside cur (its current one), in role
 * GEN_NEXT. Returns it, or NULL with *err set (nothing was started). */
static struct generation *fork_next(struct service *s, uint32_t i, int for_memory, int *err) {
  struct generation *g = gen_claim(GEN_NEXT);
  if (g == NULL) {
    *err = EAGAIN;
    return NULL;
  }
  g->instance = i;
  g->for_memory = for_memory;
  /* It runs what is on disk now: the newest release begun. */
  g->release = s->st.graceful_seq;
  *err = gen_fork(g, s->cfg, s->sigfd);
  if (*err) {
    gen_release(g);
    return NULL;
  }
  return g;
}

/* One step of attempt graceful_seq: the first instance from `from` on that
 * has a current generation gets a new one beside it. An instance with none
 * (its respawn is due) is passed over: its next generation runs the new
 * release anyway (respawn.c). With none left, the attempt succeeded. With
 * one instance this is the graceful restart itself (from 0), then its end
 * (from 1). */
static void step(struct service *s, uint32_t from, pid_t from_pid) {
  int several = s->cfg->instances > 1;
  for (uint32_t i = from; i < s->cfg->instances; i++) {
    struct generation *cur = gen_instance(s->gens, i);
    if (cur == NULL || cur->role != GEN_CURRENT || cur->pid <= 0) continue;
    if (several) s->st.roll_instance = i;
    s->st.graceful_old_pid = cur->pid;
    s->st.graceful_new_pid = 0;
    int err = 0;
    struct generation *g = fork_next(s, i, 0, &err);
    if (g == NULL) {
      evlog_begin(50, "graceful-failed");
      if (several) evlog_int("instance", i);
      evlog_int("errno", err);
      evlog_end(several ? "rolling restart stopped: cannot fork a new generation; this instance and the ones after it keep their generation"
                        : "graceful restart failed: cannot fork a new generation; the current one keeps serving");
      resolve(s, ND_GRACEFUL_START_FAILED, err, ND_STAGE_fork);
      if (several) {
        s->st.roll_stopped_at = i;
        s->st.roll_instance = ND_STATE_INSTANCES_MAX;
      }
      service_write(s);
      return;
    }
    s->st.graceful_new_pid = g->pid;
    evlog_begin(30, "graceful-start");
    evlog_int("generation", s->st.generation + 1);
    if (several) evlog_int("instance", i);
    evlog_int("daemonPid", g->pid);
    evlog_int("oldPid", cur->pid);
    if (from_pid >= 0) evlog_int("requester", from_pid);
    evlog_end(several ? "rolling restart: started a new generation of this instance alongside its current one"
                      : "graceful restart: started a new generation alongside the current one");
    service_write(s);
    return;
  }
  /* Every instance was replaced (with one: the hand-over is done). */
  resolve(s, ND_GRACEFUL_OK, 0, 0);
  if (several) {
    s->st.roll_instance = ND_STATE_INSTANCES_MAX;
    evlog_begin(30, "graceful-done");
    evlog_int("release", s->st.graceful_seq);
    evlog_int("instances", s->cfg->instances);
    evlog_end("rolling restart: every instance runs the new release");
  }
  service_write(s);
}

void graceful_request(struct service *s, int arg) {
  pid_t from = (pid_t)arg;
  if (!s->cfg->want_ready) {
    refuse(s, from, ND_REFUSED_NO_WAIT_READY,
           "graceful restart refused: the service was started without --wait-ready, so no readiness can gate the hand-over");
    return;
  }
  if (s->phase == PHASE_STOPPING) {
    refuse(s, from, ND_REFUSED_STOPPING, "graceful restart refused: the service is being stopped");
    return;
  }
  /* A roll, or a --max-memory replacement, is under way. */
  if (s->graceful.open || gen_find(s->gens, GEN_NEXT) != NULL) {
    refuse(s, from, ND_REFUSED_IN_PROGRESS, "graceful restart refused: one is already in progress");
    return;
  }
  if (gen_find(s->gens, GEN_DRAINING) != NULL) {
    refuse(s, from, ND_REFUSED_DRAINING, "graceful restart refused: the generation the last one replaced is still draining");
    return;
  }
  if (!can_hand_over(s)) {
    refuse(s, from, ND_REFUSED_NOT_READY, "graceful restart refused: no generation is up and ready to hand over from");
    return;
  }
  s->graceful.open = 1;
  s->graceful.asked = clock_mono_ms();
  s->st.graceful_seq++;
  s->st.graceful_requester = from;
  s->st.graceful_old_pid = 0;
  s->st.graceful_new_pid = 0;
  s->st.graceful_ready_ms = 0;
  if (s->cfg->instances > 1) s->st.roll_stopped_at = ND_STATE_INSTANCES_MAX;
  step(s, 0, from);
}

/* Exec'd: the readiness wait starts, as a respawned generation's does. */
void graceful_exec(struct service *s, struct generation *g) {
  g->due[GEN_T_EXEC] = 0;
  if (s->cfg->window_ms > 0) g->due[GEN_T_READY] = clock_mono_ms() + s->cfg->window_ms;
}

/* Ready: it becomes its instance's current one, and the one it replaces
 * gets TERM and drains; a roll goes on with the next instance. */
void graceful_ready(struct service *s, struct generation *g) {
  int64_t now = clock_mono_ms();
  uint32_t i = g->instance;
  int several = s->cfg->instances > 1, for_memory = g->for_memory;
  struct generation *old = gen_instance(s->gens, i);
  pid_t old_pid = old != NULL ? old->pid : 0;
  uint32_t ready_ms = (uint32_t)(now - g->started);
  if (!for_memory) s->st.graceful_ready_ms = ready_ms;
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
  g->for_memory = 0;
  memset(g->due, 0, sizeof g->due);
  g->due[GEN_T_UP] = now + RESPAWN_READY_GOOD_MS;
  s->respawn[i].at = 0;
  s->respawn[i].deferred = 0;
  /* A replacement is a restart of its instance (status adds them up). */
  s->respawn[i].starts++;
  s->st.generation++;
  s->st.restarts++;
  s->st.flags |= ND_STATE_F_READY;
  s->st.flags &= ~(uint32_t)ND_STATE_F_GOOD_START;
  s->st.daemon_started_ms = g->started_real;
  s->st.restart_at_ms = 0;
  s->st.restart_delay_ms = 0;
  evlog_begin(30, for_memory ? "max-memory-ready" : "graceful-ready");
  evlog_int("generation", s->st.generation);
  if (several) evlog_int("instance", i);
  evlog_int("daemonPid", g->pid);
  if (old_pid > 0) evlog_int("oldPid", old_pid);
  evlog_int("readyMs", ready_ms);
  evlog_int("stopTimeoutMs", s->cfg->stop_timeout_ms);
  evlog_end(for_memory           ? "max-memory: the new generation is ready and serves; the one over the limit got SIGTERM and drains"
            : old_pid > 0 ? "graceful restart: the new generation is ready and serves; the old one got SIGTERM and drains"
                          : "graceful restart: the new generation is ready and serves");
  service_enter(s, PHASE_RUNNING);
  /* The next instance of a roll; with one instance, the attempt's end. */
  if (!for_memory && s->graceful.open) step(s, i + 1, -1);
}

/* The new generation died before it was ready: its instance's current one
 * goes on; a roll stops there (the instances after it keep their
 * generation). */
void graceful_failed(struct service *s, struct generation *g) {
  pid_t dead = g->pid;
  int wstatus = g->status;
  uint32_t i = g->instance;
  int several = s->cfg->instances > 1, for_memory = g->for_memory;
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
  struct generation *cur = gen_instance(s->gens, i);
  char how[64], msg_buf[320];
  struct nd_text msg;
  evlog_describe(how, sizeof how, wstatus);
  evlog_begin(50, for_memory ? "max-memory-failed" : "graceful-failed");
  if (several) evlog_int("instance", i);
  evlog_int("daemonPid", dead);
  evlog_status(wstatus);
  if (stage) evlog_int("stage", stage);
  text_init(&msg, msg_buf, sizeof msg_buf);
  text_str(&msg, for_memory ? "max-memory replacement failed: the new generation (pid "
                 : several  ? "rolling restart stopped: the new generation (pid "
                            : "graceful restart failed: the new generation (pid ");
  text_i64(&msg, dead);
  text_str(&msg, ") ");
  text_str(&msg, outcome == ND_GRACEFUL_NOT_READY      ? "did not call ready() in time and was stopped"
                 : outcome == ND_GRACEFUL_START_FAILED ? "failed to start"
                                                       : "exited before ready()");
  text_str(&msg, " (");
  text_str(&msg, how);
  text_str(&msg, "); ");
  text_str(&msg, cur != NULL && cur->pid > 0 ? (several && !for_memory ? "this instance and the ones after it keep their generation"
                                                                       : "the current one keeps serving")
                                             : "no generation of this instance is left");
  evlog_end(msg.buf);
  if (!for_memory && s->graceful.open) {
    resolve(s, outcome, value, stage);
    if (several) {
      s->st.roll_stopped_at = i;
      s->st.roll_instance = ND_STATE_INSTANCES_MAX;
    }
  }
  if (s->phase == PHASE_STOPPING) {
    service_stop_if_done(s);
  } else if (s->respawn[i].deferred && cur == NULL) {
    s->respawn[i].deferred = 0;
    respawn_schedule(s, i, s->respawn[i].deferred_delay, s->st.deaths_in_window);
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
  if (s->cfg->instances > 1) evlog_int("instance", g->instance);
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
  uint32_t i = g->instance;
  gen_release(g);
  service_kill_leftovers(s, g);
  evlog_begin(30, "drained");
  if (s->cfg->instances > 1) evlog_int("instance", i);
  evlog_int("daemonPid", dead);
  evlog_status(wstatus);
  evlog_end("the generation replaced by a graceful restart is gone");
  if (s->phase == PHASE_STOPPING) service_stop_if_done(s);
  service_write(s);
}

void graceful_drain_late(struct service *s, struct generation *g) {
  evlog_begin(40, "drain-timeout");
  if (s->cfg->instances > 1) evlog_int("instance", g->instance);
  evlog_int("daemonPid", g->pid);
  evlog_int("stopTimeoutMs", s->cfg->stop_timeout_ms);
  evlog_end("the replaced generation outlived the stop timeout: SIGKILL");
  kill(g->pid, SIGKILL);
}

void graceful_on_stop(struct service *s) {
  resolve(s, ND_GRACEFUL_STOPPED, 0, 0);
  s->st.roll_instance = ND_STATE_INSTANCES_MAX;
  for (uint32_t i = 0; i < s->cfg->instances; i++) s->respawn[i].deferred = 0;
  for (size_t k = 0; k < GEN_TABLE; k++) {
    struct generation *g = &s->gens[k];
    if (g->role != GEN_NEXT) continue;
    /* Its READY must not hand over any more: its pipes close here. */
    memset(g->due, 0, sizeof g->due);
    gen_close_pipes(g);
    kill(g->pid, SIGTERM);
  }
}

void graceful_end_all(struct service *s) {
  resolve(s, ND_GRACEFUL_ENDED, 0, 0);
  s->st.roll_instance = ND_STATE_INSTANCES_MAX;
  int any = 0;
  for (size_t k = 0; k < GEN_TABLE; k++)
    if (s->gens[k].role == GEN_NEXT || s->gens[k].role == GEN_DRAINING) {
      kill(s->gens[k].pid, SIGKILL);
      any = 1;
    }
  if (!any) return;
  service_kill_all(s);
  for (size_t k = 0; k < GEN_TABLE; k++)
    if (s->gens[k].role == GEN_NEXT || s->gens[k].role == GEN_DRAINING) gen_release(&s->gens[k]);
}

int graceful_takes_over(struct service *s, uint32_t instance, uint32_t delay_ms) {
  struct generation *next = gen_instance_in(s->gens, GEN_NEXT, instance);
  if (next == NULL) return 0;
  s->respawn[instance].deferred = 1;
  s->respawn[instance].deferred_delay = delay_ms;
  evlog_begin(40, "graceful-takes-over");
  if (s->cfg->instances > 1) evlog_int("instance", instance);
  evlog_int("daemonPid", next->pid);
  evlog_end("the new generation of the graceful restart in progress takes over when ready");
  service_enter(s, PHASE_RUNNING);
  return 1;
}

/* --max-memory (memory.c): instance i's current generation is replaced by a
 * new one beside it, which takes over once ready, as one step of a roll.
 * Returns 0 or an errno (nothing was started). */
int graceful_replace(struct service *s, uint32_t i) {
  int err = 0;
  struct generation *g = fork_next(s, i, 1, &err);
  if (g == NULL) return err;
  service_write(s);
  return 0;
}
