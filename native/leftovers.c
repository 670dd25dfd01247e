/*
 * What a generation leaves behind (leftovers.h): per-generation cgroups,
 * or the /proc attribution where there are none.
 *
 * The /proc attribution, and its gap. A generation leads its own process
 * group, so what stays in that group is found wherever it went. What
 * leaves it (setsid, setpgid) is found as an orphan: as a subreaper the
 * supervisor becomes the parent of every process whose parent dies, and
 * the kernel moves a dying process's children to it in the same step that
 * makes the process a zombie. An orphan is attributed, in this order:
 *   1. by the ancestry of its process group's and its session's leaders,
 *      while one of them lives (up the ppid chain to a generation, or to
 *      an orphan already attributed);
 *   2. at a look (while generations overlap the supervisor looks at its
 *      children on every wake and every LOOK_MS), by its start time: a
 *      process is younger than every ancestor, so when only one live
 *      generation started before it, it is that one's; when none did, a
 *      dead one's (a stray); when several did, it is ambiguous;
 *   3. at a generation's end, an orphan that arrived since the last look
 *      is the ending one's: its exit is what brought it (its direct
 *      children, a setsid'd process its SIGTERM handler spawned) — unless
 *      it started before the ending generation, which then cannot have
 *      made it: it is attributed by its start time among the others.
 * Ambiguous ones are spared until no live generation can have made them.
 * The gap: a live generation's process that left its group and session,
 * started after the ending generation, and whose parent died within
 * LOOK_MS before that generation's end is taken for the ending one's; and
 * a process the ending generation started while another lived, whose
 * parent died before the end (a double fork during a drain; with
 * --instances, at any time), is ambiguous and lives on until no other
 * generation that started before it is left (with --instances: until the
 * stop). Without a subreaper only the process group is found.
 */
#define _GNU_SOURCE
#include "leftovers.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "clock.h"
#include "generation.h"
#include "proc.h"
#include "retry.h"

#define ORPHANS_MAX 128
/* While generations overlap (/proc only), a look at least this often. */
#define LOOK_MS 100

#define OWNER_UNKNOWN 0u            /* not attributed (yet) */
#define OWNER_AMBIGUOUS UINT32_MAX  /* several live generations could have made it */
#define OWNER_STRAY (UINT32_MAX - 1) /* no live generation could have: a dead one's */

struct orphan {
  pid_t pid;
  unsigned long long start;
  uint32_t owner; /* a generation's id, or OWNER_* */
};

/* Everything this file keeps, in one place. */
static struct {
  struct leftovers_config cfg;
  int cgroups; /* per-generation cgroups in use */
  struct cgroup_tree tree;
  uint32_t forked; /* generations forked: the last one's id */
  struct generation *table; /* the supervisor's, GEN_TABLE slots: their leftovers fields are ours */
  struct orphan orphans[ORPHANS_MAX];
  size_t norphans;
  int64_t next_look;
  long kids[1024]; /* the supervisor's children (read_children) */
  unsigned char seen[ORPHANS_MAX]; /* a look: the orphans still there */
} lo;

static struct leftovers_gen *at(int i) { return &lo.table[i].leftovers; }

static size_t read_children(int *whole) { return proc_children(lo.cfg.self, lo.kids, sizeof lo.kids / sizeof lo.kids[0], whole); }

static int kill_in_session(pid_t pgrp) { return proc_kill_in_session(lo.cfg.self, lo.cfg.sid, pgrp); }

static void reap(void) { lo.cfg.reap(lo.cfg.reap_arg); }

/* ------------------------------------------------------- generations */

static struct leftovers_gen *find(pid_t pid) {
  for (int i = 0; i < GEN_TABLE; i++)
    if (pid > 0 && at(i)->pid == pid) return at(i);
  return NULL;
}

static int is_live(const struct leftovers_gen *g, const struct leftovers_gen *except) {
  return g->pid > 0 && g != except && !g->exited;
}

static int others_live(const struct leftovers_gen *except) {
  for (int i = 0; i < GEN_TABLE; i++)
    if (is_live(at(i), except)) return 1;
  return 0;
}

/* A generation that is exiting or exited, reaped or not: then its orphans
 * may already be ours, and a look cannot tell them from the live ones'.
 * Its main thread's state says it first: a process's children come to us
 * when its last thread exits, and waitid reports it only after that one is
 * released, while the main thread is a zombie from its own exit on (or
 * from the same step, when it is the last). */
static int any_exited(void) {
  for (int i = 0; i < GEN_TABLE; i++) {
    struct leftovers_gen *g = at(i);
    if (g->pid <= 0) continue;
    if (g->exited) return 1;
    struct proc_stat ps;
    if (proc_stat_of(g->pid, &ps) < 0 || proc_dead(ps.state)) return 1;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (RETRY(waitid(P_PID, (id_t)g->pid, &si, WEXITED | WNOHANG | WNOWAIT)) < 0 || si.si_pid == g->pid) return 1;
  }
  return 0;
}

static struct orphan *orphan_find(pid_t pid, unsigned long long start) {
  for (size_t i = 0; i < lo.norphans; i++)
    if (lo.orphans[i].pid == pid && lo.orphans[i].start == start) return &lo.orphans[i];
  return NULL;
}

static void orphan_add(pid_t pid, unsigned long long start, uint32_t owner) {
  if (lo.norphans < ORPHANS_MAX) lo.orphans[lo.norphans++] = (struct orphan){pid, start, owner};
  /* Full: the next ones stay unknown, and go with the next generation to end. */
}

static void orphans_drop(uint32_t owner) {
  size_t k = 0;
  for (size_t i = 0; i < lo.norphans; i++)
    if (lo.orphans[i].owner != owner) lo.orphans[k++] = lo.orphans[i];
  lo.norphans = k;
}

/* Whose is the process that leads the group or session `leader`: up its
 * ppid chain to a generation (dead or alive), or to an orphan already
 * attributed. OWNER_UNKNOWN when the chain breaks (the leader is gone). A
 * group or session id cannot be a new process's pid while it is in use,
 * so a live leader is the real one. */
static uint32_t ancestry(pid_t p) {
  for (int i = 0; i < 64; i++) {
    if (p <= 1 || p == lo.cfg.self || p == lo.cfg.sid) return OWNER_UNKNOWN;
    struct leftovers_gen *g = find(p);
    if (g != NULL) return g->id;
    struct proc_stat ps;
    if (proc_stat_of(p, &ps) < 0 || proc_dead(ps.state)) return OWNER_UNKNOWN;
    if (ps.ppid == lo.cfg.self) {
      struct orphan *o = orphan_find(p, ps.start);
      return o != NULL && o->owner != OWNER_AMBIGUOUS ? o->owner : OWNER_UNKNOWN;
    }
    p = ps.ppid;
  }
  return OWNER_UNKNOWN;
}

static uint32_t by_leaders(pid_t pid, const struct proc_stat *ps) {
  uint32_t o = ps->pgrp != pid ? ancestry(ps->pgrp) : OWNER_UNKNOWN;
  if (o == OWNER_UNKNOWN && ps->session != pid) o = ancestry(ps->session);
  return o;
}

/* By its start time, among the live generations but except: the only one
 * that started before it, OWNER_STRAY for none, OWNER_AMBIGUOUS for more. */
static uint32_t by_start(unsigned long long start, const struct leftovers_gen *except) {
  uint32_t owner = OWNER_STRAY;
  for (int i = 0; i < GEN_TABLE; i++) {
    const struct leftovers_gen *g = at(i);
    if (!is_live(g, except) || (start != 0 && g->start > start)) continue;
    if (owner != OWNER_STRAY) return OWNER_AMBIGUOUS;
    owner = g->id;
  }
  return owner;
}

static int overlapping(void) {
  int live = 0;
  for (int i = 0; i < GEN_TABLE; i++) live += is_live(at(i), NULL);
  return !lo.cgroups && lo.cfg.subreaper && live >= 2;
}

void leftovers_look(void) {
  if (!overlapping()) return;
  lo.next_look = clock_mono_ms() + LOOK_MS;
  /* Exits checked on both sides of the read: an orphan is attributed at a
   * look only when no generation's exit can have brought it. */
  if (any_exited()) return;
  int whole;
  size_t n = read_children(&whole);
  if (any_exited()) return;
  memset(lo.seen, 0, sizeof lo.seen);
  for (size_t k = 0; k < n; k++) {
    pid_t pid = (pid_t)lo.kids[k];
    struct proc_stat ps;
    if (find(pid) != NULL || proc_stat_of(pid, &ps) < 0 || proc_dead(ps.state)) continue;
    struct orphan *o = orphan_find(pid, ps.start);
    if (o != NULL) {
      lo.seen[o - lo.orphans] = 1;
      continue;
    }
    uint32_t owner = by_leaders(pid, &ps);
    if (owner == OWNER_UNKNOWN) owner = by_start(ps.start, NULL);
    if (lo.norphans < ORPHANS_MAX) lo.seen[lo.norphans] = 1;
    orphan_add(pid, ps.start, owner);
  }
  /* Who is no longer our child is dead (an orphan stays ours until then). */
  if (whole) {
    size_t j = 0;
    for (size_t i = 0; i < lo.norphans; i++)
      if (lo.seen[i]) lo.orphans[j++] = lo.orphans[i];
    lo.norphans = j;
  }
}

int64_t leftovers_next_look(void) { return overlapping() ? lo.next_look : 0; }

/* Our orphans that are dead's (see the top of this file); returns how
 * many it killed, counting the zombies among them: a leftover's own
 * children reach us when it dies, so one more pass must follow. */
static int kill_orphans_of(const struct leftovers_gen *dead) {
  int whole, found = 0;
  size_t n = read_children(&whole);
  for (size_t k = 0; k < n; k++) {
    pid_t pid = (pid_t)lo.kids[k];
    struct proc_stat ps;
    if (find(pid) != NULL || proc_stat_of(pid, &ps) < 0) continue;
    if (proc_dead(ps.state)) {
      found++;
      continue;
    }
    struct orphan *o = orphan_find(pid, ps.start);
    uint32_t owner = by_leaders(pid, &ps);
    if (owner == OWNER_UNKNOWN && o != NULL) owner = o->owner;
    /* Arrived since the last look: dead's exit brought it, unless it is
     * older than dead (so not its descendant): another instance's. */
    if (owner == OWNER_UNKNOWN) owner = ps.start != 0 && dead->start != 0 && ps.start < dead->start ? by_start(ps.start, dead) : dead->id;
    /* Ambiguous: dead's, unless a live generation but dead started before it. */
    if (owner == OWNER_AMBIGUOUS) owner = by_start(ps.start, dead);
    if (owner == dead->id || owner == OWNER_STRAY) {
      kill(pid, SIGKILL);
      found++;
    } else if (o == NULL) {
      orphan_add(pid, ps.start, owner);
    } else {
      o->owner = owner;
    }
  }
  return found;
}

/* ------------------------------------------------------------ the API */

/* Frees g's slot; its cgroup is removed, or kept to be removed later (a
 * process in uninterruptible sleep keeps it populated). */
static void forget(struct leftovers_gen *g) {
  orphans_drop(g->id);
  g->pid = 0;
  g->exited = 0;
  if (g->cgroup >= 0 && cgroup_remove(&lo.tree, g->number) == 0) {
    close(g->cgroup);
    g->cgroup = -1;
  }
}

static void retry_removals(void) {
  for (int i = 0; i < GEN_TABLE; i++)
    if (at(i)->pid == 0 && at(i)->cgroup >= 0) forget(at(i));
}

/* A slot without a role (its generation's death is handled), whose
 * generation's leftovers are gone. */
static int unused(int i) { return lo.table[i].role == GEN_NONE && at(i)->pid == 0; }

struct generation *leftovers_free_slot(void) {
  retry_removals();
  for (int i = 0; i < GEN_TABLE; i++)
    if (unused(i) && at(i)->cgroup < 0) return &lo.table[i];
  /* Every free slot waits for a removal: drop the oldest one's fd (its
   * directory is removed at the end, if it is empty by then). */
  int oldest = -1;
  for (int i = 0; i < GEN_TABLE; i++)
    if (unused(i) && (oldest < 0 || at(i)->id < at(oldest)->id)) oldest = i;
  if (oldest < 0) return NULL;
  close(at(oldest)->cgroup);
  at(oldest)->cgroup = -1;
  return &lo.table[oldest];
}

void leftovers_init(const struct leftovers_config *c, struct generation *gens, struct leftovers_mechanism *m) {
  memset(&lo, 0, sizeof lo);
  lo.cfg = *c;
  lo.table = gens;
  for (int i = 0; i < GEN_TABLE; i++) *at(i) = (struct leftovers_gen){0, 0, 0, -1, 0, 0};
  lo.tree.parent = lo.tree.service = -1;
  memset(m, 0, sizeof *m);
  if (c->no_cgroup) {
    m->step = "disabled";
    return;
  }
  int err = cgroup_setup(&lo.tree, c->pidfile != NULL ? c->pidfile : "service", c->self);
  if (err) {
    m->step = lo.tree.step;
    m->err = err;
    return;
  }
  lo.cgroups = 1;
  m->cgroup = 1;
  m->path = lo.tree.path;
}

pid_t leftovers_fork(struct leftovers_gen *g) {
  int cg = -1;
  uint32_t number = 0;
  if (lo.cgroups) {
    cg = cgroup_make(&lo.tree, &number);
    if (cg < 0) {
      errno = -cg;
      return -1;
    }
  }
  pid_t pid = cg >= 0 ? cgroup_clone_into(cg) : fork();
  if (pid < 0) {
    int err = errno;
    if (cg >= 0) {
      close(cg);
      (void)cgroup_remove(&lo.tree, number);
    }
    errno = err;
    return -1;
  }
  if (pid == 0) return 0; /* the child: every fd here is close-on-exec */
  struct proc_stat ps;
  *g = (struct leftovers_gen){pid, 0, ++lo.forked, cg, number, proc_stat_of(pid, &ps) == 0 ? ps.start : 0};
  return pid;
}

void leftovers_reaped(pid_t pid) {
  struct leftovers_gen *g = find(pid);
  if (g != NULL) g->exited = 1;
}

void leftovers_kill(struct leftovers_gen *g, int64_t deadline) {
  if (!others_live(g)) {
    leftovers_kill_all(deadline);
    return;
  }
  /* Never forked (the fork failed), or already forgotten by a
   * leftovers_kill_all, which killed everything there was: nothing of its
   * own, and nothing a live generation owns may go. */
  if (g->pid == 0) return;
  if (g->cgroup >= 0) {
    (void)cgroup_kill(g->cgroup);
    (void)cgroup_wait_empty(g->cgroup, deadline, reap);
  } else {
    for (;;) {
      int found = kill_in_session(g->pid); /* its process group, wherever its members went */
      if (lo.cfg.subreaper) found += kill_orphans_of(g);
      reap();
      if (found == 0 || clock_mono_ms() > deadline) break;
      clock_sleep_ms(5);
    }
  }
  forget(g);
}

/* Without cgroups, every generation's process group; the whole session
 * only where the session is the service's own (not `run`'s: its caller's
 * shell and jobs are in it). */
static void kill_groups(void) {
  if (!lo.cfg.not_our_session) {
    kill_in_session(0);
    return;
  }
  for (int i = 0; i < GEN_TABLE; i++)
    if (at(i)->pid > 0) kill_in_session(at(i)->pid);
}

void leftovers_signal_all(void) {
  if (lo.cgroups) (void)cgroup_kill(lo.tree.service);
  else kill_groups();
  (void)proc_kill_children(lo.cfg.self);
}

void leftovers_kill_all(int64_t deadline) {
  for (;;) {
    /* With a subreaper (or a cgroup) every leftover is found; without,
     * the session is where the orphans of a generation are. */
    if (lo.cgroups) (void)cgroup_kill(lo.tree.service);
    else if (!lo.cfg.subreaper) kill_groups();
    (void)proc_kill_children(lo.cfg.self);
    reap();
    int busy = proc_has_children() || (lo.cgroups && cgroup_populated(lo.tree.service) == 1);
    if (!busy || clock_mono_ms() > deadline) break;
    clock_sleep_ms(5);
  }
  for (int i = 0; i < GEN_TABLE; i++) forget(at(i));
  lo.norphans = 0;
}

void leftovers_identity(uint64_t *id, char *dir, size_t cap) {
  const char *d = lo.cgroups ? lo.tree.dir : "";
  *id = lo.cgroups ? lo.tree.id : 0;
  size_t n = strlen(d);
  if (n >= cap) n = 0; /* cannot happen: both are 512 bytes */
  memcpy(dir, d, n);
  memset(dir + n, 0, cap - n);
}

void leftovers_end(void) {
  if (!lo.cgroups) return;
  /* Normally empty by now (leftovers_kill_all came first). */
  if (cgroup_populated(lo.tree.service) == 1) {
    (void)cgroup_kill(lo.tree.service);
    (void)cgroup_wait_empty(lo.tree.service, clock_mono_ms() + 1000, NULL);
  }
  for (int i = 0; i < GEN_TABLE; i++)
    if (at(i)->cgroup >= 0) close(at(i)->cgroup);
  cgroup_teardown(&lo.tree);
}
