/*
 * The daemon's checklist as named steps, run in the forked child between
 * fork and exec: by the one-shot helper today and, next, by a supervisor
 * for each generation. Every function that runs there is named daemon_*,
 * so the rule is visible at each call: async-signal-safe calls only, no
 * allocation, no stdio, no locks (it would stay correct in a fork of a
 * threaded process). Each step reports a record; a failure ends the
 * process (_exit 127) after its record.
 */
#ifndef NODE_DAEMONIZE_DAEMON_STEPS_H
#define NODE_DAEMONIZE_DAEMON_STEPS_H

#include <stddef.h>
#include <sys/types.h>

#include "fd_moves.h"
#include "plan.h"

/* The longest the daemon may take from fork to exec (a hung NFS chdir, a
 * FIFO planted as the entry): then it is killed (the helper's launch
 * fails; a supervised generation's end is a death). */
#define ND_EXEC_DEADLINE_MS 30000

/* A launch without a start-up window (--startup-grace 0) ends at the
 * daemon's execve, not at the helper's next wake-up: the helper exits
 * once it has forwarded the "exec" record, and the daemon execs once the
 * helper has read every record, or is gone (daemon_await_helper). Both
 * fds are close-on-exec, above the daemon's fd layout. */
struct daemon_handoff {
  int caller;      /* a copy of the caller's status pipe (write end): its EOF now comes from the execve */
  int helper_exit; /* a pidfd of the helper, or -1: wait for the record pipe's read end to close */
};

/* Runs every step in order and execs; never returns. helper: the session
 * leader the daemon must be under; rep_w: the record pipe's write end (a
 * failed record means nobody watches this launch: the daemon exits);
 * handoff: NULL, or the fds of a handoff; moves: the daemon's fd layout
 * (plan_daemon_fd_moves), rewritten in place. */
void daemon_become(const struct plan *pl, pid_t helper, int rep_w, const struct daemon_handoff *handoff, struct nd_fd_move *moves,
                   size_t nmoves) __attribute__((noreturn));

/* The steps, in daemon_become's order. */
void daemon_set_listen_pid(char *slot, pid_t self);
void daemon_close_helper_fds(const struct plan *pl);
void daemon_verify_session(pid_t helper, pid_t self);
void daemon_set_umask(const struct plan *pl);
void daemon_apply_limits(const struct plan *pl);
void daemon_drop_privileges(const struct plan *pl);
void daemon_die_with_parent(pid_t parent);
void daemon_enter_cwd(const struct plan *pl);
void daemon_check_entry(const struct plan *pl);
void daemon_setup_fds(struct nd_fd_move *moves, size_t n);
void daemon_close_other_fds(int first);
void daemon_reset_signals(void);
void daemon_exec(const struct plan *pl, pid_t self) __attribute__((noreturn));

/* Lays out fds as moves say (fd_moves.h). Returns 0, or an errno with
 * *failed set to the index of the move that failed. */
int daemon_apply_fd_moves(struct nd_fd_move *moves, size_t n, size_t *failed);

/* Marks every fd from first up close-on-exec. Returns 0 or an errno. The
 * helper uses it too, on what the caller leaked to it. */
int daemon_cloexec_from(unsigned int first);

#endif
