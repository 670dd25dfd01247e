/*
 * The current generation and the restart policy (see respawn.h).
 */
#define _GNU_SOURCE
#include "respawn.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#include "clock.h"
#include "daemon_steps.h"
#include "evlog.h"
#include "graceful.h"
#include "launch.h"
#include "pid1.h"
#include "text.h"

/* Does any instance but i run (launching or serving)? */
static int others_run(const struct service *s, uint32_t i) {
  for (uint32_t k = 0; k < s->cfg->instances; k++)
    if (k != i && gen_instance(s->gens, k) != NULL) return 1;
  return 0;
}

void respawn_start(struct service *s, int arg) {
  uint32_t instance = (uint32_t)arg;
  struct respawn *r = &s->respawn[instance];
  int launching = s->phase == PHASE_STARTING;
  s->st.generation++;
  /* A restart is an instance's second generation or later (the first
   * generation of instances 1..N-1 is not one). */
  if (r->starts++ > 0) s->st.restarts++;
  struct generation *g = gen_claim(launching ? GEN_LAUNCH : GEN_CURRENT);
  if (g != NULL) {
    g->instance = instance;
    /* It runs what is on disk now: the newest release begun (a respawn
     * during a roll, or after one stopped half-way, runs the new code). */
    g->release = s->st.graceful_seq;
  }
  int err = g != NULL ? gen_fork(g, s->cfg, s->sigfd) : EAGAIN;
  if (err == 0) {
    r->at = 0;
    s->st.flags &= ~(uint32_t)(ND_STATE_F_READY | ND_STATE_F_GOOD_START);
    s->st.daemon_started_ms = g->started_real;
    s->st.restart_at_ms = 0;
    s->st.restart_delay_ms = 0;
    launch_record(s, ND_STAGE_fork, 0, 0, g->pid);
    service_enter(s, launching ? PHASE_STARTING : PHASE_RUNNING);
    return;
  }
  if (launching) {
    launch_record(s, ND_STAGE_fork, 0, err, 0);
    launch_fail(s);
  }
  evlog_begin(50, "start-failed");
  evlog_int("instance", instance);
  evlog_int("errno", err);
  evlog_end("cannot fork a new generation");
  /* A death at once, of a generation with no process. */
  struct generation none;
  if (g == NULL) {
    gen_init(&none);
    g = &none;
  }
  g->role = GEN_CURRENT;
  g->instance = instance;
  g->started = clock_mono_ms();
  g->exited = 1;
  g->status = 127 << 8;
  respawn_death(s, g);
}

void respawn_schedule(struct service *s, uint32_t instance, uint32_t delay_ms, uint32_t in_window) {
  char msg_buf[128];
  struct nd_text msg;
  /* +1: clock_mono_ms() truncates, so "now" may already be up to 1 ms
   * old; the delay is a lower bound and must never come out shorter. */
  int64_t now = clock_mono_ms();
  s->respawn[instance].at = delay_ms > 0 ? now + delay_ms + 1 : now;
  s->st.restart_at_ms = clock_real_ms() + delay_ms;
  s->st.restart_delay_ms = delay_ms;
  evlog_begin(40, "restart");
  evlog_int("delayMs", delay_ms);
  evlog_int("restart", s->st.restarts + 1);
  evlog_int("deathsInWindow", in_window);
  if (s->cfg->instances > 1) evlog_int("instance", instance);
  text_init(&msg, msg_buf, sizeof msg_buf);
  text_str(&msg, "restarting in ");
  text_u64(&msg, delay_ms);
  text_str(&msg, " ms (restart ");
  text_u64(&msg, s->st.restarts + 1);
  text_str(&msg, ")");
  evlog_end(msg.buf);
  /* RESTARTING only when no instance runs: the others serve meanwhile. */
  service_enter(s, others_run(s, instance) ? s->phase : PHASE_RESTARTING);
}

void respawn_ended(struct service *s, struct generation *g) {
  int wstatus = g->status;
  if (g->role == GEN_CURRENT || g->role == GEN_LAUNCH) pid1_unready(s); /* `run`: the app is gone */
  gen_release(g);
  s->st.flags &= ~(uint32_t)(ND_STATE_F_READY | ND_STATE_F_GOOD_START);
  if (WIFEXITED(wstatus)) {
    s->st.last_exit_kind = ND_EXIT_CODE;
    s->st.last_exit_value = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    s->st.last_exit_kind = ND_EXIT_SIGNAL;
    s->st.last_exit_value = WTERMSIG(wstatus);
  }
  /* Whatever it left behind goes before anything else starts (but not
   * what belongs to a generation still alive: graceful restart). */
  service_kill_leftovers(s, g);
}

/* The daemon ended in a way the policy does not restart: say why, exit. */
__attribute__((noreturn)) static void end_for_good(struct service *s, uint32_t reason, const char *msg) {
  graceful_end_all(s);
  if (gen_any(s->gens)) service_kill_all(s); /* the other instances: the service ends with this one */
  evlog_begin(30, "done");
  evlog_end(msg);
  service_finish(s, ND_STATE_EXITED, reason, 0);
}

/* Does any instance but i run, or is one due to start (its restart delay,
 * or a graceful restart's new generation that is its respawn)? */
static int others_alive(const struct service *s, uint32_t i) {
  for (uint32_t k = 0; k < s->cfg->instances; k++)
    if (k != i && (gen_instance(s->gens, k) != NULL || s->respawn[k].at > 0 || s->respawn[k].deferred)) return 1;
  return 0;
}

/* Instance i's policy will not restart it (reason: the state's
 * ND_REASON_*; why: in words). With --instances N and another instance
 * running or due, i alone stops for good and the others serve on (status:
 * degraded); returns 1 then. Returns 0 when i was the last one: the
 * service ends as with one instance. */
static int instance_ends(struct service *s, uint32_t i, const char *reason, const char *why) {
  char msg_buf[320];
  struct nd_text msg;
  if (s->cfg->instances <= 1 || !others_alive(s, i)) return 0;
  s->respawn[i].gave_up = 1;
  s->respawn[i].at = 0;
  evlog_begin(50, "instance-gave-up");
  evlog_int("instance", i);
  evlog_str("reason", reason);
  text_init(&msg, msg_buf, sizeof msg_buf);
  text_str(&msg, "instance ");
  text_u64(&msg, i);
  text_str(&msg, " stopped for good (");
  text_str(&msg, why);
  text_str(&msg, "); the other instances serve on");
  evlog_end(msg.buf);
  /* RUNNING while another runs; RESTARTING while the others are only due. */
  service_enter(s, others_run(s, i) ? s->phase : PHASE_RESTARTING);
  return 1;
}

__attribute__((noreturn)) static void give_up(struct service *s, const struct nd_decision *d, int wstatus, const char *how) {
  char msg_buf[256];
  struct nd_text msg;
  const struct nd_policy *p = &s->cfg->policy;
  graceful_end_all(s);
  if (gen_any(s->gens)) service_kill_all(s); /* the other instances: the service fails with this one */
  evlog_begin(50, "gave-up");
  evlog_int("deaths", d->in_window);
  evlog_int("windowMs", p->window_ms);
  evlog_status(wstatus);
  text_init(&msg, msg_buf, sizeof msg_buf);
  text_str(&msg, "gave up: ");
  text_u64(&msg, d->in_window);
  text_str(&msg, " deaths within ");
  text_u64(&msg, p->window_ms);
  text_str(&msg, " ms (limit ");
  text_u64(&msg, p->limit);
  text_str(&msg, "/");
  text_u64(&msg, p->window_ms);
  text_str(&msg, " ms); last: ");
  text_str(&msg, how);
  evlog_end(msg.buf);
  service_finish(s, ND_STATE_FAILED, ND_REASON_CRASH_LOOP, 1);
}

void respawn_death(struct service *s, struct generation *g) {
  int wstatus = g->status;
  pid_t dead = g->pid;
  uint32_t instance = g->instance;
  int memory_kill = g->memory_kill;
  int64_t uptime = clock_mono_ms() - g->started;
  respawn_ended(s, g);
  if (s->phase == PHASE_STOPPING) {
    service_stop_if_done(s);
    service_write(s);
    return;
  }
  if (memory_kill) {
    /* Stopped for --max-memory (memory.c): no crash, no backoff. */
    evlog_begin(30, "exit");
    evlog_int("generation", s->st.generation);
    evlog_int("daemonPid", dead);
    if (s->cfg->instances > 1) evlog_int("instance", instance);
    evlog_status(wstatus);
    evlog_int("uptimeMs", uptime);
    evlog_end("the daemon stopped for --max-memory: restarted at once");
    if (!graceful_takes_over(s, instance, 0)) respawn_schedule(s, instance, 0, s->st.deaths_in_window);
    return;
  }
  char how[64], msg_buf[256];
  struct nd_text msg;
  evlog_describe(how, sizeof how, wstatus);
  struct nd_decision d = nd_policy_on_death(&s->cfg->policy, &s->respawn[instance].tally, clock_mono_ms(), wstatus);
  s->st.deaths++;
  s->st.deaths_in_window = d.in_window;
  /* `run` without --respawn: an app's end is no failure of ours. */
  int level = s->cfg->run.once ? (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 ? 30 : 40) : d.verdict == ND_VERDICT_RESPAWN ? 40 : 50;
  evlog_begin(level, "exit");
  evlog_int("generation", s->st.generation);
  evlog_int("daemonPid", dead);
  if (s->cfg->instances > 1) evlog_int("instance", instance);
  evlog_status(wstatus);
  evlog_int("uptimeMs", uptime);
  text_init(&msg, msg_buf, sizeof msg_buf);
  text_str(&msg, "the daemon (pid ");
  text_i64(&msg, dead);
  text_str(&msg, ") exited with ");
  text_str(&msg, how);
  evlog_end(msg.buf);

  /* `run` without --respawn: the app's end is the run's (its status). */
  if (s->cfg->run.once) end_for_good(s, ND_REASON_CLEAN_EXIT, "the app ended: run without --respawn ends with it");
  switch (d.verdict) {
    case ND_VERDICT_RESPAWN:
      if (!graceful_takes_over(s, instance, d.delay_ms)) respawn_schedule(s, instance, d.delay_ms, d.in_window);
      return;
    case ND_VERDICT_CLEAN_EXIT:
      if (instance_ends(s, instance, "clean-exit", "exited with code 0; --respawn on-failure does not restart a clean exit")) return;
      end_for_good(s, ND_REASON_CLEAN_EXIT, "the daemon exited with code 0; --respawn on-failure does not restart a clean exit");
    case ND_VERDICT_NO_RESPAWN_EXIT:
      text_init(&msg, msg_buf, sizeof msg_buf);
      text_str(&msg, "exited with ");
      text_str(&msg, how);
      text_str(&msg, ", listed in --no-respawn-exit: not restarted");
      if (instance_ends(s, instance, "no-respawn-exit", msg.buf)) return;
      text_init(&msg, msg_buf, sizeof msg_buf);
      text_str(&msg, "the daemon exited with ");
      text_str(&msg, how);
      text_str(&msg, ", listed in --no-respawn-exit: not restarted");
      end_for_good(s, ND_REASON_NO_RESPAWN_EXIT, msg.buf);
    case ND_VERDICT_GIVE_UP:
      text_init(&msg, msg_buf, sizeof msg_buf);
      text_str(&msg, "crash loop: ");
      text_u64(&msg, d.in_window);
      text_str(&msg, " deaths within ");
      text_u64(&msg, s->cfg->policy.window_ms);
      text_str(&msg, " ms; last: ");
      text_str(&msg, how);
      if (instance_ends(s, instance, "crash-loop", msg.buf)) return;
      give_up(s, &d, wstatus, how);
  }
}

/* It exec'd: its readiness wait (if any) starts, or its uptime counts. */
void respawn_exec(struct service *s, struct generation *g) {
  int64_t now = clock_mono_ms();
  g->due[GEN_T_EXEC] = 0;
  if (!s->cfg->want_ready) g->ready = 1; /* nothing to wait for: it serves once it runs */
  evlog_begin(30, "start");
  evlog_int("generation", s->st.generation);
  evlog_int("daemonPid", g->pid);
  if (s->cfg->instances > 1) evlog_int("instance", g->instance);
  evlog_int("restarts", s->st.restarts);
  evlog_end("started a new generation of the daemon");
  if (s->cfg->want_ready && s->cfg->window_ms > 0) g->due[GEN_T_READY] = now + s->cfg->window_ms;
  if (!s->cfg->want_ready) g->due[GEN_T_UP] = g->started + s->cfg->min_uptime_ms;
  service_write(s); /* RUNNING since its fork (or a stop began meanwhile) */
}

void respawn_exec_failed(struct service *s, struct generation *g) {
  evlog_begin(50, "start-failed");
  evlog_int("generation", s->st.generation);
  evlog_int("stage", g->first_failure.stage);
  evlog_int("errno", g->first_failure.err);
  evlog_end("a new generation failed the daemon checklist before exec");
}

void respawn_ready(struct service *s, struct generation *g) {
  g->ready = 1;
  s->st.flags |= ND_STATE_F_READY;
  g->due[GEN_T_UP] = clock_mono_ms() + RESPAWN_READY_GOOD_MS;
  g->due[GEN_T_READY] = 0;
  evlog_begin(30, "ready");
  evlog_int("generation", s->st.generation);
  evlog_int("daemonPid", g->pid);
  evlog_end("the daemon is ready");
  pid1_ready(s);
  service_write(s);
}

/* From fork to exec took too long (a hung chdir on NFS, a FIFO as the
 * entry): killed, and that is a death. */
void respawn_exec_late(struct service *s, struct generation *g) {
  kill(g->pid, SIGKILL);
  launch_record(s, ND_STAGE_exec, 0, ND_ETIMEOUT, ND_EXEC_DEADLINE_MS);
}

/* No ready() in time: killed (its death restarts it), unless
 * --keep-on-timeout. */
void respawn_not_ready(struct service *s, struct generation *g) {
  if (s->cfg->keep_on_timeout) return;
  evlog_begin(40, "not-ready");
  evlog_int("generation", s->st.generation);
  evlog_int("daemonPid", g->pid);
  evlog_int("waitReadyMs", s->cfg->window_ms);
  evlog_end("the daemon did not call ready() in time: killed");
  kill(g->pid, SIGKILL);
}

/* Up long enough: a good start, the backoff starts over. */
void respawn_up(struct service *s, struct generation *g) {
  nd_policy_on_good_start(&s->respawn[g->instance].tally);
  s->st.flags |= ND_STATE_F_GOOD_START;
  service_write(s);
}

/* Stopped for --max-memory and still there after the stop timeout. */
void respawn_kill_late(struct service *s, struct generation *g) {
  evlog_begin(40, "stop-timeout");
  if (s->cfg->instances > 1) evlog_int("instance", g->instance);
  evlog_int("daemonPid", g->pid);
  evlog_int("stopTimeoutMs", s->cfg->stop_timeout_ms);
  evlog_end("the daemon stopped for --max-memory outlived the stop timeout: SIGKILL");
  kill(g->pid, SIGKILL);
}
