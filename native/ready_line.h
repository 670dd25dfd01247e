/*
 * READY=1 as a whole line of the notify text on a ready pipe (sd_notify
 * style: newline-separated assignments). "NOTREADY=1" or "READY=10" do not
 * count. Byte by byte, so NULs and lines split across reads are fine and
 * no buffer is needed. Read by the helper's window and by the supervisor,
 * through ready_line_read.
 */
#ifndef NODE_DAEMONIZE_READY_LINE_H
#define NODE_DAEMONIZE_READY_LINE_H

#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

#include "retry.h"

/* The state between reads: how much of "READY=1" the current line matched
 * so far, or -1 once it cannot be READY=1. Starts at 0. */
struct ready_line {
  int pos;
};

/* Feeds n bytes; returns 1 once a line "READY=1\n" was seen. */
static inline int ready_line_feed(struct ready_line *s, const char *p, size_t n) {
  static const char want[] = "READY=1";
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (c == '\n') {
      if (s->pos == (int)sizeof want - 1) return 1;
      s->pos = 0;
    } else if (s->pos >= 0 && s->pos < (int)sizeof want - 1 && c == want[s->pos]) {
      s->pos++;
    } else {
      s->pos = -1;
    }
  }
  return 0;
}

/* At EOF: a last line "READY=1" without its newline counts too. */
static inline int ready_line_eof(const struct ready_line *s) { return s->pos == 7; }

/* One read of the ready pipe *fd: 1 once READY=1 came. The pipe is closed
 * (*fd = -1) then, and at EOF or on an error: after READY, or without it,
 * nothing more is read from it (only an exit or a timeout can follow). One
 * read a call, so a pipe that never runs dry (text other than READY=1)
 * cannot hold the caller's loop. */
static inline int ready_line_read(int *fd, struct ready_line *s) {
  char buf[4096];
  ssize_t n = RETRY(read(*fd, buf, sizeof buf));
  int ready = n > 0 ? ready_line_feed(s, buf, (size_t)n) : n == 0 && ready_line_eof(s);
  if (n <= 0 || ready) {
    close(*fd);
    *fd = -1;
  }
  return ready;
}

#endif
