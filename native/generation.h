/*
 * A generation of the daemon, as the supervisor keeps it: one struct for
 * every generation whatever its role, in one small table (the service's,
 * service.h). What a generation is doing is its role; what the supervisor
 * does on each of its events is in the table of service.c, by role.
 *
 *   GEN_LAUNCH    the first generation, until the verdict of its start-up
 *                 window (the caller's launch waits for it)
 *   GEN_CURRENT   the generation that serves
 *   GEN_NEXT      a graceful restart's new generation, until it is ready
 *                 (then it is the current one)
 *   GEN_DRAINING  the generation a graceful restart replaced, after SIGTERM
 *
 * Life of a generation: forked (gen_fork) -> its checklist's records on
 * rep_r until EOF (exec done: GEN_EV_EXEC; a failure record:
 * GEN_EV_EXEC_FAILED, its exit follows) -> with readiness, READY on ready_r
 * (GEN_EV_READY) -> reaped (GEN_EV_DEATH) -> what it left behind is killed
 * (leftovers.h) and its slot is free again. Its deadlines are timers of
 * its own (due[]), each an event when it runs out.
 *
 * Nothing here allocates; every fd is O_CLOEXEC.
 */
#ifndef NODE_DAEMONIZE_GENERATION_H
#define NODE_DAEMONIZE_GENERATION_H

#include <stdint.h>
#include <sys/types.h>

#include "leftovers.h"
#include "protocol.h"
#include "ready_line.h"
#include "supervise.h"

/* The table's size: the generations alive at once (one current one per
 * instance, a graceful restart's two more with one instance), and dead
 * generations whose cgroup could not be removed yet (a process in
 * uninterruptible sleep keeps it; leftovers.c). */
#define GEN_TABLE (ND_INSTANCES_MAX + 8)

enum gen_role { GEN_NONE, GEN_LAUNCH, GEN_CURRENT, GEN_NEXT, GEN_DRAINING, GEN_ROLES };

/* The roles in the order their fds, deaths and timers are handled: the
 * current generation's first. */
#define GEN_RANKS 4
extern const enum gen_role gen_by_rank[GEN_RANKS];

/* A generation's deadlines (monotonic ms in due[]; 0: not armed). */
enum gen_timer {
  GEN_T_EXEC,  /* from fork to exec (ND_EXEC_DEADLINE_MS) */
  GEN_T_READY, /* the start-up window, or the readiness wait */
  GEN_T_UP,    /* up this long: a good start (the backoff starts over) */
  GEN_T_KILL,  /* SIGTERM was sent: SIGKILL at this time */
  GEN_TIMERS
};

/* What can happen to a generation: from its pipes, its exit, its timers
 * (timer t is event GEN_EV_EXEC_LATE + t). */
enum gen_event {
  GEN_EV_NONE = -1,
  GEN_EV_EXEC,        /* its records ended after a successful "exec" */
  GEN_EV_EXEC_FAILED, /* its records ended with a failure record: its exit follows */
  GEN_EV_READY,       /* READY=1 on its ready pipe */
  GEN_EV_DEATH,       /* reaped: exited, status */
  GEN_EV_EXEC_LATE,   /* GEN_T_EXEC ran out */
  GEN_EV_READY_LATE,  /* GEN_T_READY ran out */
  GEN_EV_UP,          /* GEN_T_UP ran out */
  GEN_EV_KILL_LATE,   /* GEN_T_KILL ran out */
  GEN_EVENTS
};

struct generation {
  enum gen_role role;           /* GEN_NONE: a free slot */
  uint32_t instance;            /* its instance (--instances), 0..instances-1; 0 without */
  pid_t pid;                    /* its process, which leads its own process group; 0: not forked */
  int rep_r;                    /* its checklist's records, until EOF; -1: closed */
  int ready_r;                  /* its ready pipe, until READY or EOF; -1: closed (or none) */
  struct ready_line ready_line; /* READY=1 as a whole line */
  int exec_ok, exec_failed;     /* from its records: "exec" came; a failure came */
  int ready;                    /* it called ready() (without --wait-ready: it exec'd) */
  uint32_t release;             /* the release it runs: 0 the launch's, k graceful restart k's (supervise_state.h) */
  struct nd_record first_failure;
  uint32_t killed_why;          /* ND_GRACEFUL_*: why the supervisor killed a new generation */
  int for_memory;               /* GEN_NEXT: it replaces its instance for --max-memory, not for a graceful restart */
  int memory_kill;              /* GEN_CURRENT: got SIGTERM for --max-memory (its exit is no crash) */
  int64_t started;              /* its fork, monotonic ms */
  int64_t started_real;         /* its fork, CLOCK_REALTIME ms */
  int64_t due[GEN_TIMERS];
  int exited, status;           /* reaped: its wait status */
  /* What finds what it leaves behind. Kept past the role: its leftovers
   * are killed after its death is handled, and its cgroup may outlive it. */
  struct leftovers_gen leftovers;
};

/* A free generation: no role, no process, no pipe, no cgroup. */
void gen_init(struct generation *g);

/* Every slot free. */
void gen_table_init(struct generation *gens);

/* A free slot of the table (leftovers.c chooses it: no role, and nothing
 * of a dead generation left in it), given the role; NULL when there is
 * none. */
struct generation *gen_claim(enum gen_role role);

/* Forks g: its record pipe, with readiness its ready pipe, its process
 * (into a cgroup of its own where there are cgroups), its exec deadline.
 * sigfd: the supervisor's, closed in the child. Returns 0 or an errno (g
 * keeps pid 0 then). */
int gen_fork(struct generation *g, const struct nd_supervise_config *cfg, int sigfd);

/* One read of g's records: each is copied to forward (>= 0: the caller's
 * status pipe, during the launch); returns GEN_EV_EXEC or
 * GEN_EV_EXEC_FAILED at EOF (the pipe is closed then), else GEN_EV_NONE. */
enum gen_event gen_read_records(struct generation *g, int forward);

/* One read of g's ready pipe: 1 once READY=1 came. */
int gen_read_ready(struct generation *g);

/* g's records not read yet are there (no wait). */
int gen_records_waiting(const struct generation *g);

void gen_close_pipes(struct generation *g);

/* g's role ends: its pipes are closed, its timers disarmed, the slot is
 * free once leftovers.c has done with it. */
void gen_release(struct generation *g);

/* The first generation in that role, or NULL (const as gens is: strchr's
 * way). */
struct generation *gen_find(const struct generation *gens, enum gen_role role);

/* The current generation: launching or serving (with instances, the lowest
 * instance's); NULL for none. */
struct generation *gen_current(const struct generation *gens);

/* Instance i's generation in that role (a graceful replacement's new one,
 * the one it replaced), or NULL. */
struct generation *gen_instance_in(const struct generation *gens, enum gen_role role, uint32_t i);

/* Instance i's current generation (launching or serving), or NULL. */
struct generation *gen_instance(const struct generation *gens, uint32_t i);

/* A generation has a role (is alive, or its death is not handled yet). */
int gen_any(const struct generation *gens);

/* pid was reaped with this wait status: noted on its generation. */
void gen_reaped(struct generation *gens, pid_t pid, int status);

#endif
