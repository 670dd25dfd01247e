/*
 * The supervisor's state file (the record: supervise_state.h): written
 * whole, with one pwrite(2) at offset 0, on every change, from the
 * service's own copy of the record and its generation table.
 */
#ifndef NODE_DAEMONIZE_STATEFILE_H
#define NODE_DAEMONIZE_STATEFILE_H

#include <sys/types.h>

#include "generation.h"
#include "supervise.h"
#include "supervise_state.h"

/* The record's fields that never change after the start. */
void statefile_init(struct nd_state *st, const struct nd_supervise_config *cfg, pid_t self);

/* Writes st, with the pids (and the current generation's start time) of
 * the generations in the table by their roles, and each instance's life
 * from its generations and its policy's memory (respawn[i], service.h). */
struct respawn;
void statefile_write(struct nd_state *st, const struct generation *gens, const struct respawn *respawn);

#endif
