/*
 * Monotonic milliseconds, for every deadline of the supervisor and of what
 * it calls (leftovers.c, cgroup.c): one clock, so that their deadlines
 * compare.
 */
#ifndef NODE_DAEMONIZE_CLOCK_H
#define NODE_DAEMONIZE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
