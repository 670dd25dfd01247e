/*
 * The supervised service: everything the supervisor knows, in one value
 * (struct service, on nd_supervise's stack), and its phase machine.
 *
 * Two kinds of events reach it, and each is looked up in a table of
 * actions (service.c) — s6-supervise's actions[state][event] — so that
 * the main loop (supervisor.c) only turns signals, fds and timers into
 * events:
 *   - a generation's (generation.h: exec, ready, death, its timers), by
 *     the generation's role: the launch's, the current one's, a graceful
 *     restart's new one's or the draining one's;
 *   - the service's (a stop, its timeout, the restart delay's end, a
 *     graceful restart request, SIGHUP), by the phase.
 *
 * The phase is the service's, and what the state file says (its values
 * are supervise_state.h's ND_STATE_*):
 *   STARTING    the first generation's start-up window: the launch waits
 *   RUNNING     a generation serves (or a graceful restart's new one is to
 *               take over: the current one died meanwhile)
 *   RESTARTING  none runs; the next starts when the policy's delay is over
 *   STOPPING    a stop began: every generation got SIGTERM; the supervisor
 *               exits when none is left
 * and it ends in FAILED, STOPPED or EXITED, as the supervisor exits
 * (service_finish). Only service_enter and service_finish change it.
 *
 * Adding a role is a row of the generations' table. With --instances N
 * there are N current generations, one per instance (generation.h
 * instance), each with its own `struct respawn`; the phase is RUNNING
 * while any instance runs, RESTARTING when none does.
 */
#ifndef NODE_DAEMONIZE_SERVICE_H
#define NODE_DAEMONIZE_SERVICE_H

#include <stdint.h>
#include <sys/types.h>

#include "generation.h"
#include "leftovers.h"
#include "supervise.h"
#include "supervise_policy.h"
#include "supervise_state.h"

enum service_phase { PHASE_STARTING, PHASE_RUNNING, PHASE_RESTARTING, PHASE_STOPPING, PHASES };

enum service_event {
  SERVICE_EV_STOP,      /* SIGTERM, SIGINT or SIGQUIT (arg: the signal) */
  SERVICE_EV_STOP_LATE, /* the stop timeout ran out */
  SERVICE_EV_RESTART,   /* an instance's restart delay is over (arg: the instance) */
  SERVICE_EV_GRACEFUL,  /* SIGUSR2: a graceful restart is asked for (arg: the sender's pid) */
  SERVICE_EV_HUP,       /* SIGHUP: reopen the log, forward it */
  SERVICE_EVENTS
};

/* The policy's memory (respawn.c): one per instance. */
struct respawn {
  struct nd_tally tally;
  int64_t at;              /* the instance's next generation starts then (monotonic ms; 0: none due) */
  uint32_t starts;         /* generations of this instance started so far */
  int deferred;            /* the current one died during a graceful restart: its respawn */
  uint32_t deferred_delay; /* waits for the new one's outcome (graceful.c) */
  int gave_up;             /* its policy gave up: no generation of it runs or will (the others serve on) */
  uint32_t memory_restarts; /* its replacements for --max-memory */
};

struct service {
  const struct nd_supervise_config *cfg;
  pid_t self;
  int sigfd;
  int status_fd;        /* the caller's status pipe until the launch's verdict; -1 after */
  enum service_phase phase;
  struct generation gens[GEN_TABLE];
  /* One per instance (cfg->instances of them): supervisor.c's static
   * table, so that an instance that never runs costs no resident page
   * (each tally's ring is 8 kB). */
  struct respawn *respawn;
  struct {              /* the graceful restart being decided (graceful.c) */
    int open;           /* st.graceful_seq is not decided yet */
    int64_t asked;      /* when it was asked for (monotonic ms) */
  } graceful;
  struct {              /* the stop (STOPPING) */
    int signal;
    int64_t due;        /* SIGKILL to everything then (monotonic ms) */
  } stop;
  int degraded;         /* no PR_SET_CHILD_SUBREAPER */
  struct leftovers_mechanism mechanism;
  struct nd_state st;   /* the state record, as last written */
};

typedef void service_action(struct service *s, int arg);
typedef void gen_action(struct service *s, struct generation *g);

/* An event of generation g, handled as its role says. A death is handled
 * after every record it wrote was read: a failure record names the step
 * that failed. */
void service_gen_event(struct service *s, struct generation *g, enum gen_event ev);

/* One read of g's records (GEN_EV_EXEC or GEN_EV_EXEC_FAILED at their
 * end), or of its ready pipe (GEN_EV_READY): the main loop's fds. */
void service_read_records(struct service *s, struct generation *g);
void service_read_ready(struct service *s, struct generation *g);

/* An event of the service, handled as the phase says. */
void service_event(struct service *s, enum service_event ev, int arg);

/* The deaths noted by gen_reaped, handled: the current generation's first,
 * then the new one's, then the draining one's (handling one may reap
 * another: killing leftovers reaps). */
void service_deaths(struct service *s);

/* Every timer that ran out, as its event; then a look for leftovers. */
void service_timers(struct service *s);

/* The earliest time a timer runs out (monotonic ms), 0 for none: only the
 * timers the table listens to in each role and phase. */
int64_t service_deadline(struct service *s);

/* The phase changes (or stays, and the state is written again). */
void service_enter(struct service *s, enum service_phase phase);

/* The state file, written again. */
void service_write(struct service *s);

/* The supervisor exits with code: the record says state (FAILED, STOPPED,
 * EXITED) and reason; the cgroups it made go with it. */
__attribute__((noreturn)) void service_finish(struct service *s, uint32_t state, uint32_t reason, int code);

/* What generation g left behind is killed (never what a live one started). */
void service_kill_leftovers(struct service *s, struct generation *g);

/* Everything but the supervisor is killed and reaped. */
void service_kill_all(struct service *s);

/* STOPPING: when no generation is left, the supervisor exits. */
void service_stop_if_done(struct service *s);

#endif
