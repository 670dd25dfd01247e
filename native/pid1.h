/*
 * `node-daemonize run`: the supervisor in the foreground, exec'd in place of
 * the CLI, so that the process a container runtime (or a shell, or systemd)
 * started is this small C program and not Node (docs/containers.md).
 *
 * The same supervisor as --respawn's (supervise.h), without the helper's
 * setsid and fork: it is the app's parent in its caller's session (so it
 * never kills by session: the app's process group, and as a subreaper its
 * orphans; or a cgroup per generation), it reaps everything reparented to
 * it (PID 1 of a PID namespace, or a child subreaper), passes signals on
 * (forward.h), and exits with the app's status.
 */
#ifndef NODE_DAEMONIZE_PID1_H
#define NODE_DAEMONIZE_PID1_H

#include "plan.h"
#include "supervise.h"

struct service;
struct generation;

/* The helper's main, with ND_PLAN_RUN, before the supervisor starts:
 * refuses (a line on stderr, exit 1) where /proc is not this PID
 * namespace's or no child subreaper can be had; removes a stale ready
 * file; notes the terminal; fills in c->run. */
void pid1_prepare(struct nd_supervise_config *c, const struct plan *pl);

/* The app is ready (ready(), or exec'd without --wait-ready): the ready
 * file is made, and NOTIFY_SOCKET gets READY=1 (once). */
void pid1_ready(struct service *s);

/* The app drains or died: the ready file goes. */
void pid1_unready(struct service *s);

/* The first app died before it ran (or, with --wait-ready, before it was
 * ready): said in a line. */
void pid1_launch_failed(struct service *s, const struct generation *g);

/* The first app did not call ready() within --wait-ready: killed (said in
 * a line); run exits 1. */
void pid1_not_ready(struct service *s, const struct generation *g);

/* The supervisor exits: the ready file goes, the terminal goes back to our
 * group; the exit status is the app's, 128 + the signal that ended it
 * (code when no app ever ended). */
int pid1_exit_code(struct service *s, int code);

#endif
