/*
 * RETRY: every syscall in an EINTR loop (shared by the helper's C files).
 * A signal that interrupts a call must not turn into a failed launch.
 */
#ifndef NODE_DAEMONIZE_RETRY_H
#define NODE_DAEMONIZE_RETRY_H

#include <errno.h>

/* Retry a syscall that returns -1 with EINTR; the value is the call's. */
#define RETRY(expr)                          \
  ({                                         \
    long nd_r_;                              \
    do nd_r_ = (long)(expr);                 \
    while (nd_r_ == -1 && errno == EINTR);   \
    nd_r_;                                   \
  })

#endif
