/*
 * The service's phase machine (see service.h): the two tables of actions,
 * the dispatch, the timers, and the phase's transitions that belong to no
 * role — the stop, SIGHUP, the end.
 */
#define _GNU_SOURCE
#include "service.h"

#include <signal.h>
#include <unistd.h>

#include "clock.h"
#include "evlog.h"
#include "graceful.h"
#include "launch.h"
#include "memory.h"
#include "pid1.h"
#include "proc.h"
#include "respawn.h"
#include "statefile.h"

/* Killing what a dead generation left behind: give up waiting after this
 * (a process in uninterruptible sleep); it stays a child and is reaped later. */
#define LEFTOVER_WAIT_MS 5000

static service_action stop_begin, stop_late, hup;

/* What each role does on each event of a generation; NULL: nothing, and a
 * timer of that column is not waited for in that role (the launch's
 * good-start timer counts from the moment it is the current one). */
_Static_assert(GEN_EVENTS == 8, "one column per generation event");
static gen_action *const gen_actions[GEN_ROLES][GEN_EVENTS] = {
    /*                EXEC           EXEC_FAILED          READY           DEATH             EXEC_LATE           READY_LATE          UP          KILL_LATE */
    [GEN_NONE] =     {NULL,          NULL,                NULL,           NULL,             NULL,               NULL,               NULL,       NULL},
    [GEN_LAUNCH] =   {launch_exec,   NULL,                launch_ready,   launch_death,     respawn_exec_late,  launch_window_end,  NULL,       NULL},
    [GEN_CURRENT] =  {respawn_exec,  respawn_exec_failed, respawn_ready,  respawn_death,    respawn_exec_late,  respawn_not_ready,  respawn_up, respawn_kill_late},
    [GEN_NEXT] =     {graceful_exec, NULL,                graceful_ready, graceful_failed,  graceful_exec_late, graceful_not_ready, NULL,       graceful_kill},
    [GEN_DRAINING] = {NULL,          NULL,                NULL,           graceful_drained, NULL,               NULL,               NULL,       graceful_drain_late},
};

/* What each phase does on each event of the service; NULL: nothing (a
 * timer of that column is not waited for). */
_Static_assert(SERVICE_EVENTS == 5, "one column per service event");
static service_action *const service_actions[PHASES][SERVICE_EVENTS] = {
    /*                    STOP        STOP_LATE  RESTART        GRACEFUL          HUP */
    [PHASE_STARTING] =   {stop_begin, NULL,      NULL,          graceful_request, hup},
    [PHASE_RUNNING] =    {stop_begin, NULL,      respawn_start, graceful_request, hup}, /* an instance's, while others run */
    [PHASE_RESTARTING] = {stop_begin, NULL,      respawn_start, graceful_request, hup},
    [PHASE_STOPPING] =   {NULL,       stop_late, NULL,          graceful_request, hup},
};

/* The state file's name of each phase. */
static const uint32_t phase_state[PHASES] = {ND_STATE_STARTING, ND_STATE_RUNNING, ND_STATE_RESTARTING, ND_STATE_STOPPING};

/* ------------------------------------------------------------ dispatch */

void service_gen_event(struct service *s, struct generation *g, enum gen_event ev) {
  if (ev == GEN_EV_DEATH)
    while (gen_records_waiting(g)) service_read_records(s, g);
  gen_action *a = gen_actions[g->role][ev];
  if (a != NULL) a(s, g);
}

void service_read_records(struct service *s, struct generation *g) {
  /* The launch's records go on to the caller, as the helper's do. */
  enum gen_event ev = gen_read_records(g, g->role == GEN_LAUNCH ? s->status_fd : -1);
  if (ev != GEN_EV_NONE) service_gen_event(s, g, ev);
}

void service_read_ready(struct service *s, struct generation *g) {
  if (gen_read_ready(g)) service_gen_event(s, g, GEN_EV_READY);
}

void service_event(struct service *s, enum service_event ev, int arg) {
  service_action *a = service_actions[s->phase][ev];
  if (a != NULL) a(s, arg);
}

void service_deaths(struct service *s) {
  for (;;) {
    struct generation *dead = NULL;
    for (size_t r = 0; r < GEN_RANKS && dead == NULL; r++)
      for (size_t i = 0; i < GEN_TABLE && dead == NULL; i++)
        if (s->gens[i].role == gen_by_rank[r] && s->gens[i].exited) dead = &s->gens[i];
    if (dead == NULL) return;
    service_gen_event(s, dead, GEN_EV_DEATH); /* its slot is released there */
  }
}

/* Is generation timer t of g waited for: armed, and listened to. */
static int gen_timer_on(const struct generation *g, int t) { return g->due[t] && gen_actions[g->role][GEN_EV_EXEC_LATE + t] != NULL; }

void service_timers(struct service *s) {
  int64_t now = clock_mono_ms();
  if (s->stop.due && now >= s->stop.due && service_actions[s->phase][SERVICE_EV_STOP_LATE]) {
    s->stop.due = 0;
    service_event(s, SERVICE_EV_STOP_LATE, 0);
  }
  for (size_t r = 0; r < GEN_RANKS; r++)
    for (size_t i = 0; i < GEN_TABLE; i++) {
      struct generation *g = &s->gens[i];
      /* An action may change g's role: its other timers wait for its new rank. */
      for (int t = 0; t < GEN_TIMERS && g->role == gen_by_rank[r]; t++)
        if (gen_timer_on(g, t) && now >= g->due[t]) {
          g->due[t] = 0;
          service_gen_event(s, g, (enum gen_event)(GEN_EV_EXEC_LATE + t));
        }
    }
  for (uint32_t i = 0; i < s->cfg->instances; i++)
    if (s->respawn[i].at && now >= s->respawn[i].at && service_actions[s->phase][SERVICE_EV_RESTART]) {
      s->respawn[i].at = 0;
      service_event(s, SERVICE_EV_RESTART, (int)i);
    }
  /* --max-memory: the instances' readings, once a second. */
  memory_check(s);
  /* While generations overlap (/proc attribution only): whose orphans are. */
  leftovers_look();
}

/* The earlier of two times, 0 being none. */
static int64_t earlier(int64_t a, int64_t b) { return a == 0 || (b != 0 && b < a) ? b : a; }

int64_t service_deadline(struct service *s) {
  int64_t best = earlier(leftovers_next_look(), memory_deadline(s));
  if (service_actions[s->phase][SERVICE_EV_STOP_LATE]) best = earlier(best, s->stop.due);
  if (service_actions[s->phase][SERVICE_EV_RESTART])
    for (uint32_t i = 0; i < s->cfg->instances; i++) best = earlier(best, s->respawn[i].at);
  for (size_t i = 0; i < GEN_TABLE; i++)
    for (int t = 0; t < GEN_TIMERS; t++)
      if (gen_timer_on(&s->gens[i], t)) best = earlier(best, s->gens[i].due[t]);
  return best;
}

/* ---------------------------------------------------------- the phase */

void service_write(struct service *s) { statefile_write(&s->st, s->gens, s->respawn); }

void service_enter(struct service *s, enum service_phase phase) {
  s->phase = phase;
  s->st.state = phase_state[phase];
  service_write(s);
}

void service_finish(struct service *s, uint32_t state, uint32_t reason, int code) {
  /* Every generation is gone, or is about to be (the supervisor's death
   * signal): the record names none. */
  for (size_t i = 0; i < GEN_TABLE; i++)
    if (s->gens[i].role != GEN_NONE) gen_release(&s->gens[i]);
  s->st.reason = reason;
  s->st.state = state;
  /* The cgroups it made go with it. */
  leftovers_end();
  /* The state stays readable; the lock goes with us. */
  service_write(s);
  if (s->cfg->run.on) code = pid1_exit_code(s, code); /* `run`: the app's status */
  _exit(code);
}

void service_kill_leftovers(struct service *s, struct generation *g) {
  (void)s;
  leftovers_kill(&g->leftovers, clock_mono_ms() + LEFTOVER_WAIT_MS);
}

void service_kill_all(struct service *s) {
  (void)s;
  leftovers_kill_all(clock_mono_ms() + LEFTOVER_WAIT_MS);
}

/* ------------------------------------------------------------ the stop */

__attribute__((noreturn)) static void stop_finish(struct service *s) {
  service_kill_all(s);
  s->st.stop_signal = (uint32_t)s->stop.signal;
  evlog_begin(30, "stopped");
  evlog_str("signal", evlog_signal_name(s->stop.signal));
  evlog_end("stopped the service");
  service_finish(s, ND_STATE_STOPPED, ND_REASON_SIGNAL, 0);
}

void service_stop_if_done(struct service *s) {
  if (!gen_any(s->gens)) stop_finish(s);
}

/* Every instance's current generation gets sig (our unreaped children: the
 * pids are their own). */
static void signal_instances(struct service *s, int sig) {
  for (uint32_t i = 0; i < s->cfg->instances; i++) {
    struct generation *g = gen_instance(s->gens, i);
    if (g != NULL && g->pid > 0) kill(g->pid, sig);
  }
}

/* A stop (TERM, INT or QUIT to the supervisor): TERM to every generation
 * (every instance's), KILL to everything after the stop timeout, nothing
 * new started. */
static void stop_begin(struct service *s, int sig) {
  struct generation *cur = gen_current(s->gens);
  s->stop.signal = sig;
  for (uint32_t i = 0; i < s->cfg->instances; i++) s->respawn[i].at = 0;
  evlog_begin(30, "stop");
  evlog_str("signal", evlog_signal_name(sig));
  if (cur != NULL && cur->pid > 0) evlog_int("daemonPid", cur->pid);
  evlog_int("stopTimeoutMs", s->cfg->stop_timeout_ms);
  evlog_end("stopping the service");
  pid1_unready(s); /* `run`: draining, not ready any more */
  graceful_on_stop(s);
  service_stop_if_done(s);
  signal_instances(s, SIGTERM);
  s->stop.due = clock_mono_ms() + s->cfg->stop_timeout_ms;
  service_enter(s, PHASE_STOPPING);
}

static void stop_late(struct service *s, int arg) {
  (void)arg;
  struct generation *cur = gen_current(s->gens);
  pid_t pid = cur != NULL ? cur->pid : 0;
  evlog_begin(40, "stop-timeout");
  evlog_int("daemonPid", pid);
  evlog_int("stopTimeoutMs", s->cfg->stop_timeout_ms);
  evlog_end("the daemon outlived the stop timeout: SIGKILL to the whole service");
  signal_instances(s, SIGKILL);
  leftovers_signal_all();
}

/* ---------------------------------------------------------------- SIGHUP */

/* The log is reopened (a rotation), and the daemon gets SIGHUP too if it
 * catches it (else it would die of it). */
static void hup(struct service *s, int arg) {
  (void)arg;
  evlog_reopen(s->cfg);
  for (uint32_t i = 0; i < s->cfg->instances; i++) {
    struct generation *cur = gen_instance(s->gens, i);
    if (cur == NULL || cur->pid <= 0 || cur->rep_r >= 0) continue;
    int caught = proc_catches(cur->pid, SIGHUP);
    evlog_begin(30, "hup");
    evlog_int("daemonPid", cur->pid);
    if (caught) kill(cur->pid, SIGHUP);
    evlog_end(caught ? "forwarded SIGHUP to the daemon" : "the daemon does not catch SIGHUP: not forwarded");
  }
}
