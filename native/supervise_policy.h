/*
 * The supervisor's restart policy: whether a dead generation is restarted,
 * after how long, and when the supervisor gives up. Pure functions over
 * caller-owned structs: no allocation, no syscalls, no clock of its own
 * (every time is passed in, in milliseconds of CLOCK_MONOTONIC), so it can
 * be driven by a test with made-up times (test/fixtures/policy-driver.c).
 *
 * The rules (docs/supervision.md):
 *  - mode: on-failure restarts after a non-zero exit or a death by signal;
 *    always restarts after any exit. An exit code in no_respawn (s6's 125
 *    idea) is "stop for good" in either mode.
 *  - backoff: the k-th consecutive death without a good start in between
 *    waits delay * 2^(k-1), at most max_delay. A good start (ready() and
 *    up 1 s, or up min_uptime without readiness: decided by the caller)
 *    resets the streak.
 *  - crash-loop limit: when `limit` deaths fall inside any window of
 *    window_ms, at any time in the service's life, the supervisor gives up.
 *    Every death counts, whatever its cause, good start or not.
 */
#ifndef NODE_DAEMONIZE_SUPERVISE_POLICY_H
#define NODE_DAEMONIZE_SUPERVISE_POLICY_H

#include <stdint.h>

#define ND_RESPAWN_ON_FAILURE 1u
#define ND_RESPAWN_ALWAYS 2u

/* The largest N of --respawn-limit N/WINDOW: the tally keeps N times. */
#define ND_POLICY_MAX_LIMIT 1000u

struct nd_policy {
  uint32_t mode;         /* ND_RESPAWN_* */
  uint32_t delay_ms;     /* the first restart's delay */
  uint32_t max_delay_ms; /* the cap of the doubling */
  uint32_t limit;        /* give up at this many deaths ... */
  uint32_t window_ms;    /* ... inside a window this long */
  uint8_t no_respawn[32]; /* bit c: exit code c means stop for good */
};

/* What the supervisor remembers of past deaths. */
struct nd_tally {
  int64_t death_ms[ND_POLICY_MAX_LIMIT]; /* ring of the last `limit` death times */
  uint32_t next;   /* where the next death goes in the ring */
  uint32_t count;  /* entries in the ring (at most limit) */
  uint32_t streak; /* deaths since the last good start */
  uint32_t deaths; /* every death so far */
};

enum nd_verdict {
  ND_VERDICT_RESPAWN = 1,        /* start a new generation after delay_ms */
  ND_VERDICT_CLEAN_EXIT = 2,     /* on-failure and exit code 0: not restarted */
  ND_VERDICT_NO_RESPAWN_EXIT = 3, /* an exit code listed in no_respawn */
  ND_VERDICT_GIVE_UP = 4,        /* the crash-loop limit was reached */
};

struct nd_decision {
  enum nd_verdict verdict;
  uint32_t delay_ms;  /* ND_VERDICT_RESPAWN: wait this long */
  uint32_t in_window; /* deaths inside the window that ends now, this one included */
};

/* Returns 0, or -1 when a field is out of range (limit 0 or above the
 * maximum, window 0, mode unknown, delay above max_delay). */
int nd_policy_check(const struct nd_policy *p);
void nd_policy_set_no_respawn(struct nd_policy *p, unsigned code);
int nd_policy_is_no_respawn(const struct nd_policy *p, unsigned code);

void nd_tally_init(struct nd_tally *t);

/* The delay of the streak-th consecutive death (streak >= 1). */
uint32_t nd_backoff_delay(const struct nd_policy *p, uint32_t streak);

/* A generation died at now_ms with this wait status (as from waitpid). The
 * death is recorded in the tally whatever the verdict. */
struct nd_decision nd_policy_on_death(const struct nd_policy *p, struct nd_tally *t, int64_t now_ms, int wstatus);

/* The current generation counts as a good start: the backoff starts over. */
void nd_policy_on_good_start(struct nd_tally *t);

#endif
