/*
 * The clock of the helper and the supervisor: monotonic milliseconds for
 * every deadline (the supervisor's, leftovers.c's, cgroup.c's, the helper's
 * window: one clock, so that their deadlines compare), the wall clock for
 * what is written down (log lines, the state record), and a sleep.
 */
#ifndef NODE_DAEMONIZE_CLOCK_H
#define NODE_DAEMONIZE_CLOCK_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

static inline int64_t clock_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CLOCK_REALTIME, ms since the epoch. */
static inline int64_t clock_real_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms, the whole of it whatever signal interrupts. */
static inline void clock_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

#endif
