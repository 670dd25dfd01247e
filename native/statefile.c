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
#include "service.h"

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
  st->memory_limit_bytes = cfg->max_memory_bytes;
  st->roll_instance = ND_STATE_INSTANCES_MAX;
  st->roll_stopped_at = ND_STATE_INSTANCES_MAX;
}

static pid_t pid_of(const struct generation *gens, enum gen_role role) {
  const struct generation *g = gen_find(gens, role);
  return g != NULL ? g->pid : 0;
}

/* Every instance's current generation (version 5), and its own life
 * (version 6): from its generations and its policy's memory; one look
 * at the table per instance. */
static void write_instances(struct nd_state *st, const struct generation *gens, const struct respawn *respawn) {
  int64_t mono = clock_mono_ms(), real = clock_real_ms();
  st->instances_up = st->instances_ready = 0;
  for (uint32_t i = 0; i < ND_STATE_INSTANCES_MAX; i++) {
    const struct generation *g = i < st->instances ? gen_instance(gens, i) : NULL;
    const struct generation *next = i < st->instances ? gen_instance_in(gens, GEN_NEXT, i) : NULL;
    const struct generation *draining = i < st->instances ? gen_instance_in(gens, GEN_DRAINING, i) : NULL;
    const struct respawn *r = i < st->instances ? &respawn[i] : NULL;
    uint32_t flags = 0;
    int up = g != NULL && g->pid > 0;
    st->instance_pids[i] = g != NULL ? g->pid : 0;
    st->instance_start_ticks[i] = up ? g->leftovers.start : 0;
    if (up) flags |= ND_INSTANCE_F_UP, st->instances_up++;
    if (up && g->ready) flags |= ND_INSTANCE_F_READY, st->instances_ready++;
    if (!up && r != NULL && r->at > 0) flags |= ND_INSTANCE_F_RESTARTING;
    if (!up && r != NULL && r->gave_up) flags |= ND_INSTANCE_F_GAVE_UP;
    if (next != NULL && next->pid > 0) flags |= ND_INSTANCE_F_REPLACING;
    st->instance_flags[i] = flags;
    st->instance_restarts[i] = r != NULL && r->starts > 1 ? r->starts - 1 : 0;
    st->instance_release[i] = up ? g->release : 0;
    st->instance_memory_restarts[i] = r != NULL ? r->memory_restarts : 0;
    st->instance_next_pids[i] = next != NULL ? next->pid : 0;
    st->instance_draining_pids[i] = draining != NULL ? draining->pid : 0;
    st->instance_started_ms[i] = up ? g->started_real : 0;
    /* Its restart delay's end, in the wall clock readers have. */
    st->instance_restart_at_ms[i] = !up && r != NULL && r->at > 0 ? real + (r->at > mono ? r->at - mono : 0) : 0;
  }
}

void statefile_write(struct nd_state *st, const struct generation *gens, const struct respawn *respawn) {
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
  write_instances(st, gens, respawn);
  leftovers_identity(&st->cgroup_id, st->cgroup_dir, sizeof st->cgroup_dir); /* what finds our cgroup after our death */
  (void)RETRY(pwrite(ND_HELPER_FD_STATE, st, sizeof st[0], 0));
}
