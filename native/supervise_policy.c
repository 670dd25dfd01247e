/* The supervisor's restart policy (see supervise_policy.h). */
#include "supervise_policy.h"

#include <string.h>
#include <sys/wait.h>

int nd_policy_check(const struct nd_policy *p) {
  if (p->mode != ND_RESPAWN_ON_FAILURE && p->mode != ND_RESPAWN_ALWAYS) return -1;
  if (p->limit == 0 || p->limit > ND_POLICY_MAX_LIMIT) return -1;
  if (p->window_ms == 0) return -1;
  if (p->delay_ms > p->max_delay_ms) return -1;
  return 0;
}

void nd_policy_set_no_respawn(struct nd_policy *p, unsigned code) {
  if (code < 256) p->no_respawn[code / 8] |= (uint8_t)(1u << (code % 8));
}

int nd_policy_is_no_respawn(const struct nd_policy *p, unsigned code) {
  return code < 256 && (p->no_respawn[code / 8] & (1u << (code % 8))) != 0;
}

void nd_tally_init(struct nd_tally *t) { memset(t, 0, sizeof *t); }

uint32_t nd_backoff_delay(const struct nd_policy *p, uint32_t streak) {
  uint64_t d = p->delay_ms;
  for (uint32_t i = 1; i < streak && d < p->max_delay_ms; i++) d *= 2;
  return d > p->max_delay_ms ? p->max_delay_ms : (uint32_t)d;
}

/* Deaths in the ring no older than window_ms at now_ms. */
static uint32_t count_in_window(const struct nd_policy *p, const struct nd_tally *t, int64_t now_ms) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < t->count; i++)
    if (now_ms - t->death_ms[i] <= (int64_t)p->window_ms) n++;
  return n;
}

struct nd_decision nd_policy_on_death(const struct nd_policy *p, struct nd_tally *t, int64_t now_ms, int wstatus) {
  struct nd_decision d = {ND_VERDICT_RESPAWN, 0, 0};
  /* The ring keeps the last `limit` deaths: the limit is reached exactly
   * when the oldest of them is still inside the window. */
  uint32_t size = p->limit < ND_POLICY_MAX_LIMIT ? p->limit : ND_POLICY_MAX_LIMIT;
  t->death_ms[t->next] = now_ms;
  t->next = (t->next + 1) % size;
  if (t->count < size) t->count++;
  t->deaths++;
  t->streak++;
  d.in_window = count_in_window(p, t, now_ms);

  if (WIFEXITED(wstatus)) {
    int code = WEXITSTATUS(wstatus);
    if (nd_policy_is_no_respawn(p, (unsigned)code)) {
      d.verdict = ND_VERDICT_NO_RESPAWN_EXIT;
      return d;
    }
    if (code == 0 && p->mode == ND_RESPAWN_ON_FAILURE) {
      d.verdict = ND_VERDICT_CLEAN_EXIT;
      return d;
    }
  }
  if (d.in_window >= p->limit) {
    d.verdict = ND_VERDICT_GIVE_UP;
    return d;
  }
  d.delay_ms = nd_backoff_delay(p, t->streak);
  return d;
}

void nd_policy_on_good_start(struct nd_tally *t) { t->streak = 0; }
