/*
 * The plan as the helper holds it: read once from the memfd the addon
 * wrote (layout: protocol.h), before any fork, and the daemon's fd layout
 * derived from it. Nothing here runs in the daemon.
 */
#ifndef NODE_DAEMONIZE_PLAN_H
#define NODE_DAEMONIZE_PLAN_H

#include <sys/types.h>

#include "fd_moves.h"
#include "protocol.h"

struct plan {
  struct nd_plan_header h;
  gid_t *groups;
  const char *cwd;
  const char *exec_path;
  char **checks;
  char **argv;
  char **envp;
  struct nd_respawn_plan respawn; /* with ND_PLAN_RESPAWN */
  const char *ready_name;    /* with ND_PLAN_RUN: the ready file's name in slot 6's directory ("" none) */
  const char *notify_socket; /* with ND_PLAN_RUN: NOTIFY_SOCKET ("" none) */
  /* Set by the supervisor in its own copy: each generation sets
   * PR_SET_PDEATHSIG after its privilege drop and checks that its parent is
   * still this pid (0: a one-shot daemon, no death signal). */
  pid_t die_with_parent;
  /* Set by the supervisor too: each generation leads its own process group
   * inside the session (pgid = its pid, not the session's), so that what a
   * dead generation leaves behind can be told from a live one's while two
   * overlap in a graceful restart (0: the group is the session's). */
  int own_group;
  /* With sockets: the digits of the LISTEN_PID slot (the last envp
   * string), filled in by each daemon after its fork; NULL without. */
  char *listen_pid;
  /* With instances: the digits of the NODE_DAEMONIZE_INSTANCE slot
   * (protocol.h), filled in by each generation after its fork; NULL
   * without. */
  char *instance_slot;
};

/* At most: stdin, stdout, stderr, the sockets, the lock file, the ready pipe. */
#define ND_DAEMON_FD_MOVES_MAX (5 + ND_PLAN_SOCKETS_MAX)

/* Reads the plan from ND_HELPER_FD_PLAN. Returns 0, an errno, or ND_EPLAN
 * for a malformed plan. */
int plan_load(struct plan *pl);

/* Every socket slot (ND_HELPER_FD_SOCKETS..) holds a socket; each is
 * marked close-on-exec. Returns 0 or an errno (ENOTSOCK). */
int plan_check_sockets(const struct plan *pl);

/* The daemon's fds at exec (protocol.h) as moves from the helper's fds:
 * 0 /dev/null, 1 and 2 the log, the sockets, the lock file, the ready
 * pipe's write end (ready_w, or -1); a slot with nothing to hold is closed. Returns the
 * number of moves written to out (at most ND_DAEMON_FD_MOVES_MAX). */
size_t plan_daemon_fd_moves(const struct plan *pl, int ready_w, struct nd_fd_move *out);

#endif
