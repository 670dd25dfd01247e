/*
 * An fd layout as data: a list of moves {from, to}, applied in one place by
 * one rule that never clobbers a source (skalibs' cspawn_fileaction list is
 * the model). Used for both layouts of a launch: the helper's incoming fds
 * (the addon turns the moves into posix_spawn file actions) and the
 * daemon's fds at exec (daemon_apply_fd_moves in daemon_steps.c).
 *
 * The rule: every source at or below the highest target is first copied,
 * close-on-exec, above it; then no move can overwrite a source another
 * move has yet to read, and the moves run in any order. A layout needs no
 * ordering proof, and adding slots (listening sockets at 3..3+N-1) is a
 * change to the list only. An fd that stays in place is copied too: dup2
 * onto itself would leave close-on-exec set (and older glibc's posix_spawn
 * does just that).
 *
 * Functions named daemon_* are async-signal-safe (no allocation, no stdio,
 * no locks): they run in the daemon between fork and exec.
 */
#ifndef NODE_DAEMONIZE_FD_MOVES_H
#define NODE_DAEMONIZE_FD_MOVES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A move's source when the target is to hold nothing: it is closed. */
#define ND_FD_CLOSE (-1)

/* Targets are unique within a list. */
struct nd_fd_move {
  int from; /* an open fd, or ND_FD_CLOSE */
  int to;
};

/* The highest target of the list (-1 for an empty list). */
int daemon_fd_moves_top(const struct nd_fd_move *moves, size_t n);

/* Copies every source at or below the highest target above it
 * (F_DUPFD_CLOEXEC) and points each move that reads it at the copy.
 * A copy is made once per source. Returns 0, or an errno with *failed set
 * to the index of the move whose source could not be copied (EBADF: a
 * source is not open; checked for every move before anything is copied). The copies
 * are the caller's to close (in the daemon, exec closes them). */
int daemon_fd_moves_lift(struct nd_fd_move *moves, size_t n, size_t *failed);

/* pipe2(O_CLOEXEC) with both ends at min or above: a pipe a daemon keeps
 * through its fd moves must sit above every target (the helper's and the
 * supervisor's record pipes). Returns 0 or an errno (nothing left open). */
int fd_pipe_above(int p[2], int min);

#ifdef __cplusplus
}
#endif

#endif
