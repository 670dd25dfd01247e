/*
 * What a generation leaves behind, told apart by the generation that made
 * it, and killed: "kill what generation G left" is
 * leftovers_kill(&G->leftovers).
 * Graceful restarts overlap two generations (instances will overlap N for
 * good), so a generation's end must take its own processes and never a
 * live one's (docs/supervision.md, "What a generation leaves behind").
 *
 * Two mechanisms, chosen once at start:
 *   - a cgroup (v2) per generation (cgroup.h), where the supervisor can
 *     make one: every process a generation starts is in it, whatever it
 *     does, and the service user cannot move out of it; cgroup.kill;
 *   - else /proc: the generation's process group, and the supervisor's
 *     orphans (as a subreaper, every orphan of a generation becomes its
 *     child) attributed by their group and session leaders' ancestry, by
 *     when they arrived (looks while generations overlap) and by their start
 *     time. Its gap is stated in the docs and in leftovers.c.
 *
 * The per-generation data (struct leftovers_gen) is a field of each
 * generation in the supervisor's table (generation.h), which leftovers_init
 * is given: it lives on past the generation's role, until what it left is
 * gone (and its cgroup removed). Nothing is allocated.
 */
#ifndef NODE_DAEMONIZE_LEFTOVERS_H
#define NODE_DAEMONIZE_LEFTOVERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What is known of one generation to find what it leaves behind. */
struct leftovers_gen {
  pid_t pid;                 /* the generation (its process group's id); 0: none */
  int exited;                /* reaped: its orphans may already be the supervisor's */
  uint32_t id;               /* 1, 2, ... in fork order: who owns an orphan */
  int cgroup;                /* its cgroup's directory fd; -1: none */
  uint32_t number;           /* its cgroup's name, g<number> */
  unsigned long long start;  /* its start time, clock ticks after boot (/proc) */
};

struct leftovers_config {
  pid_t self;            /* the supervisor */
  pid_t sid;             /* the service's session */
  int subreaper;         /* PR_SET_CHILD_SUBREAPER holds: every orphan comes to the supervisor */
  int no_cgroup;         /* tests only: act as if no cgroup could be made */
  const char *pidfile;   /* names the service's cgroup */
  void (*reap)(void *);  /* reaps every exited child of the supervisor, noting generations */
  void *reap_arg;
  int not_our_session;   /* `run`: the session is the caller's (a shell's): never kill by session */
};

/* The mechanism chosen, for the log and the state file. */
struct leftovers_mechanism {
  int cgroup;        /* 1: per-generation cgroups */
  const char *path;  /* cgroup: the service's cgroup, from the cgroup2 root */
  const char *step;  /* /proc: the step of the cgroup set-up that failed */
  int err;           /* /proc: its errno (0: not tried, as asked) */
};

struct generation;

/* gens: the supervisor's table, GEN_TABLE slots (generation.h), whose
 * leftovers fields this file keeps from now on. */
void leftovers_init(const struct leftovers_config *c, struct generation *gens, struct leftovers_mechanism *m);

/* A slot of the table for a new generation: no role, no process, no
 * cgroup still to be removed; NULL when there is none. */
struct generation *leftovers_free_slot(void);

/* Forks a generation (into a new cgroup of its own, where there are
 * cgroups) and records it in lg (a free slot's). Returns as fork() does. */
pid_t leftovers_fork(struct leftovers_gen *lg);

/* The supervisor reaped pid (a generation or not). */
void leftovers_reaped(pid_t pid);

/* Generation lg is dead (reaped): SIGKILL to what it left behind, never
 * to what another generation still alive started; returns when that is
 * gone, or at deadline (monotonic ms). With no other generation left,
 * everything goes (leftovers_kill_all). Forgets lg. */
void leftovers_kill(struct leftovers_gen *lg, int64_t deadline);

/* SIGKILL to every process of the service but the supervisor, and wait
 * for them until deadline; forgets every generation. */
void leftovers_kill_all(int64_t deadline);

/* SIGKILL to every process of the service but the supervisor, no wait (a
 * stop that ran out of time). */
void leftovers_signal_all(void);

/* /proc, while generations overlap: note the orphans that arrived and
 * whose they are. Cheap; call it on every wake. */
void leftovers_look(void);

/* When the next look is due (monotonic ms), 0 for none. */
int64_t leftovers_next_look(void);

/* For the state record: the service's cgroup, its inode number (*id) and
 * its absolute path (into dir, cap bytes, NUL-terminated); 0 and "" where
 * there are no cgroups. It changes only if the cgroup had to be made again. */
void leftovers_identity(uint64_t *id, char *dir, size_t cap);

/* The supervisor exits: kill what is left and remove every cgroup made. */
void leftovers_end(void);

#endif
