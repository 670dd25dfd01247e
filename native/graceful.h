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
 * not queued. The outcome goes to the state file, which only the
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

/* The current generation died during an attempt: the new one is the
 * respawn (no second generation is started); the policy's delay applies
 * only if it fails too. Returns 0 when there is no attempt. */
int graceful_takes_over(struct service *s, uint32_t delay_ms);

#endif
