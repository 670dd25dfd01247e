/*
 * The never-clobber rule for fd layouts (see fd_moves.h): shared by the
 * addon, before posix_spawn, and by the daemon, between fork and exec.
 */
#define _GNU_SOURCE
#include "fd_moves.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int daemon_fd_moves_top(const struct nd_fd_move *moves, size_t n) {
  int top = -1;
  for (size_t i = 0; i < n; i++)
    if (moves[i].to > top) top = moves[i].to;
  return top;
}

int daemon_fd_moves_lift(struct nd_fd_move *moves, size_t n, size_t *failed) {
  /* Above every target, so that no move can land on a copy either. */
  int above = daemon_fd_moves_top(moves, n) + 1;
  /* Every source is checked before any copy: a copy takes the lowest free
   * fd at or above `above`, which may be the number of a source that is
   * not open, and that move would then silently copy the wrong file. */
  for (size_t i = 0; i < n; i++) {
    if (moves[i].from < 0) continue;
    if (fcntl(moves[i].from, F_GETFD) < 0) {
      *failed = i;
      return EBADF;
    }
  }
  for (size_t i = 0; i < n; i++) {
    int from = moves[i].from;
    if (from < 0 || from >= above) continue;
    /* F_DUPFD_CLOEXEC is not interrupted by signals: no EINTR loop. */
    int copy = fcntl(from, F_DUPFD_CLOEXEC, above);
    if (copy < 0) {
      *failed = i;
      return errno != 0 ? errno : EBADF;
    }
    /* This and every later move of the same source read the copy; a new fd
     * never equals a source still to come (those are open already). */
    for (size_t j = i; j < n; j++)
      if (moves[j].from == from) moves[j].from = copy;
  }
  return 0;
}

int fd_pipe_above(int p[2], int min) {
  if (pipe2(p, O_CLOEXEC) < 0) return errno;
  for (int i = 0; i < 2; i++) {
    if (p[i] >= min) continue;
    int high = fcntl(p[i], F_DUPFD_CLOEXEC, min);
    if (high < 0) {
      int err = errno;
      close(p[0]);
      close(p[1]);
      return err;
    }
    close(p[i]);
    p[i] = high;
  }
  return 0;
}
