/*
 * Graceful restart: SIGUSR2 asks for one. A new generation (GEN_NEXT) is
 * forked from the same plan as every other (so the code on disk now is
 * what starts), alongside the current one, and takes over only once it
 * called ready(): then the current one gets TERM and drains
 * (GEN_DRAINING), with KILL after the stop timeout. A new generation that
 * exits, fails its checklist or misses readiness is killed with whatever
 * it left behind, and the current one keeps serving. None of that is a
 * death in the policy's eyes (no backoff, no crash-loop count), nor is the
 * replaced one's exit while it drains. A second request while one is in
 * progress, or while the replaced generation still drains, is refused,
 * not queued.
 *
 * With --instances N > 1 it is a rolling restart: one instance at a time,
 * in index order, new i ready before old i gets TERM, then new i+1 (the
 * drains may overlap). A new generation that fails stops the roll there:
 * the instances after it keep their generation (st.instance_release says
 * which runs which; st.roll_stopped_at where it stopped). The outcome goes to the state file, which only the
 * supervisor can write: that is where `restart --graceful` reads it
 * (docs/supervision.md).
 */
#ifndef NODE_DAEMONIZE_GRACEFUL_H
#define NODE_DAEMONIZE_GRACEFUL_H

#include <stdint.h>

#include "service.h"

/* A request (arg: the sender's pid): refused, or a new generation. */
service_action graceful_request;

/* The GEN_NEXT and GEN_DRAINING rows of the actions (service.c). */
gen_action graceful_exec, graceful_ready, graceful_failed, graceful_exec_late, graceful_not_ready, graceful_kill;
gen_action graceful_drained, graceful_drain_late;

/* A stop: the attempt ends, the new generation gets TERM. */
void graceful_on_stop(struct service *s);

/* The service ends (the policy's verdict on the current generation):
 * neither the new generation nor a draining one outlives it. */
void graceful_end_all(struct service *s);

/* Instance's current generation died while a new one of it starts (a
 * graceful restart, a roll's step, a --max-memory replacement): the new one
 * is the respawn (no second generation is started); the policy's delay
 * applies only if it fails too. Returns 0 when none of it starts. */
int graceful_takes_over(struct service *s, uint32_t instance, uint32_t delay_ms);

/* --max-memory with --listen and --wait-ready: instance i gets a new
 * generation beside its current one, which drains once the new one is
 * ready (one step of a roll; no graceful attempt is counted). Returns 0 or
 * an errno. */
int graceful_replace(struct service *s, uint32_t i);

#endif
