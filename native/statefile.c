/*
 * The supervisor's state file (see statefile.h).
 */
#define _GNU_SOURCE
#include "statefile.h"

#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "leftovers.h"
#include "proc.h"
#include "protocol.h"
#include "retry.h"

_Static_assert(ND_INSTANCES_MAX == ND_STATE_INSTANCES_MAX, "the state record has a slot for every instance");

void statefile_init(struct nd_state *st, const struct nd_supervise_config *cfg, pid_t self) {
  memset(st, 0, sizeof *st);
  st->magic = ND_STATE_MAGIC;
  st->version = ND_STATE_VERSION;
  st->supervisor_pid = self;
  st->supervisor_started_ms = clock_real_ms();
  st->limit = cfg->policy.limit;
  st->window_ms = cfg->policy.window_ms;
  st->stop_timeout_ms = cfg->stop_timeout_ms;
  st->sid = cfg->sid;
  /* Who a generation runs as, and when we started: what status and stop
   * check a pid against once we are gone (supervise_state.h, version 3). */
  st->service_uid = cfg->set_ids ? (uint32_t)cfg->uid : (uint32_t)geteuid();
  st->supervisor_start_ticks = proc_start_ticks(self);
  if (cfg->want_ready) st->flags |= ND_STATE_F_WANT_READY;
  st->wait_ready_ms = cfg->want_ready ? cfg->window_ms : 0;
  st->instances = cfg->instances;
}

static pid_t pid_of(const struct generation *gens, enum gen_role role) {
  const struct generation *g = gen_find(gens, role);
  return g != NULL ? g->pid : 0;
}

void statefile_write(struct nd_state *st, const struct generation *gens) {
  st->seq++;
  st->seq_end = st->seq;
  st->updated_ms = clock_real_ms();
  const struct generation *current = gen_current(gens);
  st->daemon_pid = current != NULL ? current->pid : 0;
  /* Its start time, read at its fork (leftovers.c), while it was our
   * unreaped child, so of that very process: with it, status and stop after
   * our death (SIGKILL) name or signal that pid only while it is still the
   * same process. */
  st->daemon_start_ticks = current != NULL && current->pid > 0 ? current->leftovers.start : 0;
  st->next_pid = pid_of(gens, GEN_NEXT);
  st->draining_pid = pid_of(gens, GEN_DRAINING);
  /* Every instance's current generation (version 5). */
  for (uint32_t i = 0; i < ND_STATE_INSTANCES_MAX; i++) {
    const struct generation *g = i < st->instances ? gen_instance(gens, i) : NULL;
    st->instance_pids[i] = g != NULL ? g->pid : 0;
    st->instance_start_ticks[i] = g != NULL && g->pid > 0 ? g->leftovers.start : 0;
  }
  leftovers_identity(&st->cgroup_id, st->cgroup_dir, sizeof st->cgroup_dir); /* what finds our cgroup after our death */
  (void)RETRY(pwrite(ND_HELPER_FD_STATE, st, sizeof st[0], 0));
}
