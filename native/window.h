/*
 * The helper after fork: forward the daemon's records until it exec'd,
 * then watch the start-up window (READY, exit or timeout). The helper is
 * the daemon's parent throughout, so an exit is seen with its real status
 * and a timeout can kill and reap it.
 */
#ifndef NODE_DAEMONIZE_WINDOW_H
#define NODE_DAEMONIZE_WINDOW_H

#include <sys/types.h>

#include "daemon_steps.h"
#include "plan.h"

/* Forwards the daemon's records until EOF (exec succeeded, or it died),
 * for at most ND_EXEC_DEADLINE_MS. Returns 0 when the last record was a
 * successful "exec". handoff (daemon_steps.h): return as soon as that
 * record is forwarded, without waiting for the execve. */
int window_forward_until_exec(int rep_r, pid_t daemon, int handoff);

/* Watches the start-up window: READY on ready_r (or -1: a grace period),
 * the daemon's exit, or the timeout. Returns 0 on success. */
int window_watch(const struct plan *pl, pid_t daemon, int ready_r);

/* Returns the wait status, or -1 (with errno) when waitpid fails. */
int window_reap(pid_t pid);

/* SIGKILL and reap the daemon (still our unreaped child: its pid cannot
 * have been reused). */
void window_kill_and_reap(pid_t daemon);

/* How long window_kill_descendants() waits for what it killed to be reaped. */
#define ND_KILL_DESCENDANTS_MS 5000

/* Kill and reap every process left under the helper: as a subreaper it
 * inherits whatever the daemon started before it died or was killed.
 * Never blocks past ND_KILL_DESCENDANTS_MS: without /proc (no list of
 * children) the helper's process group gets SIGTERM instead. Returns 0
 * once none is left, -1 when some outlived the deadline. */
int window_kill_descendants(void);

#endif
