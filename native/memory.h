/*
 * --max-memory: once a second, while the service runs, the supervisor reads
 * each instance's resident set from /proc/<pid>/statm of its current
 * generation (our unreaped child, so the pid is that process: one
 * open+read+close into a stack buffer, no scan of all processes, nothing
 * allocated). An instance over the limit at two readings in a row is
 * replaced: with --listen and --wait-ready gracefully (a new generation
 * beside it, then TERM and a drain: graceful_replace), else by SIGTERM and
 * a respawn without backoff (respawn.c, KILL after the stop timeout).
 * Neither counts as a crash. A replacement due while a graceful restart or
 * a roll runs waits for its end.
 */
#ifndef NODE_DAEMONIZE_MEMORY_H
#define NODE_DAEMONIZE_MEMORY_H

#include <stdint.h>

#include "service.h"

/* The readings' period. */
#define MEMORY_PERIOD_MS 1000

/* The first reading a period from now (no-op without --max-memory). */
void memory_init(struct service *s);

/* When the next reading is due (monotonic ms); 0: none is waited for. */
int64_t memory_deadline(const struct service *s);

/* A reading of every instance, when it is due. */
void memory_check(struct service *s);

#endif
