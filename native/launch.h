/*
 * The launch: the first generation's start-up window decides it, as the
 * helper's window does for a daemon without --respawn. Its records go on
 * to the caller's status pipe, then the verdict (ready, or up for the
 * grace period; else the failure), then the pipe is closed; a failure ends
 * the supervisor with nothing left running. The generation's role is
 * GEN_LAUNCH until then, GEN_CURRENT after.
 */
#ifndef NODE_DAEMONIZE_LAUNCH_H
#define NODE_DAEMONIZE_LAUNCH_H

#include <stdint.h>

#include "service.h"

/* A record to the caller, while the launch is in progress. */
void launch_record(struct service *s, int stage, int sys, int err, int64_t value);

/* The launch failed: nothing may stay; the supervisor exits. */
__attribute__((noreturn)) void launch_fail(struct service *s);

/* The GEN_LAUNCH row of the actions (service.c). */
gen_action launch_exec, launch_ready, launch_death, launch_window_end;

#endif
