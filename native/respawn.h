/*
 * The current generation and the restart policy applied to it: a new
 * generation is started (respawn_start, at the start and when the restart
 * delay is over), its exec, readiness and good start are noted, and its
 * death is judged by the policy (supervise_policy.c, pure): restart after
 * the backoff, end for good, or give up. The GEN_CURRENT row of the
 * actions (service.c), and the common end of a current generation, shared
 * with the launch's.
 */
#ifndef NODE_DAEMONIZE_RESPAWN_H
#define NODE_DAEMONIZE_RESPAWN_H

#include <stdint.h>

#include "service.h"

/* After ready(), a generation up this long is a good start. */
#define RESPAWN_READY_GOOD_MS 1000

/* A new current generation of instance arg (the launch's, in
 * PHASE_STARTING). One that cannot even be forked counts as a death. */
service_action respawn_start;

/* Instance's next generation starts after delay_ms (the policy's backoff). */
void respawn_schedule(struct service *s, uint32_t instance, uint32_t delay_ms, uint32_t in_window);

/* The current generation g is dead: its role ends, the state notes how,
 * and what it left behind is killed. */
void respawn_ended(struct service *s, struct generation *g);

/* The GEN_CURRENT row of the actions (respawn_exec_late is the launch's
 * too). */
gen_action respawn_exec, respawn_exec_failed, respawn_ready, respawn_death, respawn_exec_late, respawn_not_ready, respawn_up, respawn_kill_late;

#endif
