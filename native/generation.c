/*
 * A generation and the table of them (see generation.h).
 */
#define _GNU_SOURCE
#include "generation.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "daemon_steps.h"
#include "records.h"
#include "retry.h"

/* The state file's slot: the supervisor's, never a generation's. */
#define FD_STATE ND_HELPER_FD_STATE

/* Everything but the leftovers fields: those live as long as leftovers.c
 * needs them. */
static void blank(struct generation *g) {
  struct leftovers_gen keep = g->leftovers;
  memset(g, 0, sizeof *g);
  g->leftovers = keep;
  g->rep_r = g->ready_r = -1;
}

void gen_init(struct generation *g) {
  memset(g, 0, sizeof *g);
  blank(g);
  g->leftovers.cgroup = -1;
}

void gen_table_init(struct generation *gens) {
  for (size_t i = 0; i < GEN_TABLE; i++) gen_init(&gens[i]);
}

struct generation *gen_claim(enum gen_role role) {
  struct generation *g = leftovers_free_slot();
  if (g == NULL) return NULL;
  blank(g);
  g->role = role;
  return g;
}

int gen_fork(struct generation *g, const struct nd_supervise_config *cfg, int sigfd) {
  int rep[2] = {-1, -1}, ready[2] = {-1, -1};
  struct nd_fd_move moves[ND_DAEMON_FD_MOVES_MAX];
  int above = daemon_fd_moves_top(moves, plan_daemon_fd_moves(cfg->plan, -1, moves)) + 1;
  int first_free = ND_HELPER_FD_FIRST_FREE_AFTER((int)cfg->plan->h.nsockets); /* the sockets are kept */
  if (above < first_free) above = first_free;
  int err = fd_pipe_above(rep, above);
  if (err) return err;
  if (cfg->want_ready && (err = fd_pipe_above(ready, above)) != 0) {
    close(rep[0]);
    close(rep[1]);
    return err;
  }
  size_t nmoves = plan_daemon_fd_moves(cfg->plan, ready[1], moves);
  /* Into a cgroup of its own where there are cgroups (leftovers.h). */
  pid_t pid = leftovers_fork(&g->leftovers);
  if (pid < 0) {
    err = errno;
    close(rep[0]);
    close(rep[1]);
    if (ready[0] >= 0) {
      close(ready[0]);
      close(ready[1]);
    }
    return err;
  }
  if (pid == 0) {
    /* The generation: nothing of the supervisor's own. The lock file, the
     * state file and the signalfd never reach it (the lock is the
     * supervisor's to hold; the state file is what status trusts). */
    close(rep[0]);
    if (ready[0] >= 0) close(ready[0]);
    close(ND_HELPER_FD_LOCK);
    close(FD_STATE);
    close(sigfd);
    /* Its own process group (plan.h own_group), set on both sides of the
     * fork so that it holds before either goes on. */
    (void)setpgid(0, 0);
    /* `run` on a terminal: the app's group is its foreground (pid1.c);
     * on both sides too, so that it holds before the app can read. */
    if (cfg->run.tty) (void)tcsetpgrp(0, getpid());
    /* Its instance's index, into the slot the plan reserved (our private
     * copy since the fork): two digits, NUL-terminated when one is enough. */
    if (cfg->plan->instance_slot != NULL) {
      char *d = cfg->plan->instance_slot;
      if (g->instance >= 10) *d++ = (char)('0' + g->instance / 10);
      *d++ = (char)('0' + g->instance % 10);
      *d = '\0';
    }
    daemon_become(cfg->plan, cfg->sid, rep[1], NULL, moves, nmoves);
  }
  (void)setpgid(pid, pid);
  if (cfg->run.tty) (void)tcsetpgrp(0, pid);
  close(rep[1]);
  if (ready[1] >= 0) close(ready[1]);
  g->pid = pid;
  g->rep_r = rep[0];
  g->ready_r = ready[0];
  g->started = clock_mono_ms();
  g->started_real = clock_real_ms();
  g->due[GEN_T_EXEC] = g->started + ND_EXEC_DEADLINE_MS;
  return 0;
}

enum gen_event gen_read_records(struct generation *g, int forward) {
  struct nd_record r;
  ssize_t got = RETRY(read(g->rep_r, &r, sizeof r));
  if (got == (ssize_t)sizeof r) {
    if (forward >= 0) (void)daemon_send_record(forward, r.stage, r.syscall, r.err, r.value);
    /* The first failure is kept; "exec" without a failure is a success. */
    if (r.err != 0) {
      if (!g->exec_failed) g->first_failure = r;
      g->exec_failed = 1;
      g->exec_ok = 0;
    } else if (r.stage == ND_STAGE_exec) {
      g->exec_ok = 1;
    }
    return GEN_EV_NONE;
  }
  /* EOF: the exec succeeded, or the checklist failed (its exit follows;
   * without a failure record, a signal killed it before exec). */
  close(g->rep_r);
  g->rep_r = -1;
  if (g->exec_ok && !g->exec_failed) return GEN_EV_EXEC;
  return g->exec_failed ? GEN_EV_EXEC_FAILED : GEN_EV_NONE;
}

int gen_read_ready(struct generation *g) { return ready_line_read(&g->ready_r, &g->ready_line); }

int gen_records_waiting(const struct generation *g) {
  if (g->rep_r < 0) return 0;
  struct pollfd p = {g->rep_r, POLLIN, 0};
  return RETRY(poll(&p, 1, 0)) > 0;
}

void gen_close_pipes(struct generation *g) {
  if (g->rep_r >= 0) close(g->rep_r);
  if (g->ready_r >= 0) close(g->ready_r);
  g->rep_r = g->ready_r = -1;
}

void gen_release(struct generation *g) {
  gen_close_pipes(g);
  blank(g);
}

const enum gen_role gen_by_rank[GEN_RANKS] = {GEN_LAUNCH, GEN_CURRENT, GEN_NEXT, GEN_DRAINING};

struct generation *gen_find(const struct generation *gens, enum gen_role role) {
  for (size_t i = 0; i < GEN_TABLE; i++)
    if (gens[i].role == role) return (struct generation *)&gens[i];
  return NULL;
}

struct generation *gen_instance_in(const struct generation *gens, enum gen_role role, uint32_t i) {
  for (size_t k = 0; k < GEN_TABLE; k++)
    if (gens[k].role == role && gens[k].instance == i) return (struct generation *)&gens[k];
  return NULL;
}

struct generation *gen_instance(const struct generation *gens, uint32_t i) {
  for (size_t k = 0; k < GEN_TABLE; k++)
    if ((gens[k].role == GEN_CURRENT || gens[k].role == GEN_LAUNCH) && gens[k].instance == i) return (struct generation *)&gens[k];
  return NULL;
}

struct generation *gen_current(const struct generation *gens) {
  struct generation *best = NULL;
  for (size_t k = 0; k < GEN_TABLE; k++)
    if ((gens[k].role == GEN_CURRENT || gens[k].role == GEN_LAUNCH) && (best == NULL || gens[k].instance < best->instance))
      best = (struct generation *)&gens[k];
  return best;
}

int gen_any(const struct generation *gens) {
  for (size_t i = 0; i < GEN_TABLE; i++)
    if (gens[i].role != GEN_NONE) return 1;
  return 0;
}

void gen_reaped(struct generation *gens, pid_t pid, int status) {
  leftovers_reaped(pid);
  for (size_t i = 0; i < GEN_TABLE; i++) {
    struct generation *g = &gens[i];
    if (g->role != GEN_NONE && g->pid > 0 && g->pid == pid) {
      g->exited = 1;
      g->status = status;
    }
  }
}
