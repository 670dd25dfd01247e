/*
 * Bounded formatting and checked parsing (see text.h).
 */
#include "text.h"

void text_init(struct nd_text *t, char *buf, size_t cap) {
  t->buf = buf;
  t->cap = cap;
  t->len = 0;
  buf[0] = '\0';
}

void text_char(struct nd_text *t, char c) {
  if (t->len + 1 >= t->cap) return;
  t->buf[t->len++] = c;
  t->buf[t->len] = '\0';
}

void text_str(struct nd_text *t, const char *s) {
  while (*s != '\0' && t->len + 1 < t->cap) t->buf[t->len++] = *s++;
  t->buf[t->len] = '\0';
}

void text_u64(struct nd_text *t, uint64_t v) {
  char digits[20]; /* 18446744073709551615 */
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) text_char(t, digits[--n]);
}

void text_i64(struct nd_text *t, int64_t v) {
  if (v < 0) {
    text_char(t, '-');
    /* In unsigned arithmetic, so that INT64_MIN negates too. */
    text_u64(t, 0 - (uint64_t)v);
  } else {
    text_u64(t, (uint64_t)v);
  }
}

void text_number_path(char *buf, size_t cap, const char *head, int64_t v, const char *tail) {
  struct nd_text t;
  text_init(&t, buf, cap);
  text_str(&t, head);
  text_i64(&t, v);
  text_str(&t, tail);
}

/* The value of a digit in base (10 or 16), or -1. */
static int digit(char c, unsigned base) {
  if (c >= '0' && c <= '9') return c - '0';
  if (base == 16 && c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (base == 16 && c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int parse_unsigned(const char **s, uint64_t *out, unsigned base) {
  const char *p = *s;
  uint64_t v = 0;
  int d = digit(*p, base);
  if (d < 0) return -1;
  for (; d >= 0; d = digit(*++p, base)) {
    if (v > (UINT64_MAX - (uint64_t)d) / base) return -1;
    v = v * base + (uint64_t)d;
  }
  *out = v;
  *s = p;
  return 0;
}

int text_parse_u64(const char **s, uint64_t *out) { return parse_unsigned(s, out, 10); }

int text_parse_hex64(const char **s, uint64_t *out) { return parse_unsigned(s, out, 16); }

int text_parse_i64(const char **s, int64_t *out) {
  const char *p = *s;
  int neg = *p == '-';
  if (*p == '-' || *p == '+') p++;
  uint64_t mag;
  if (parse_unsigned(&p, &mag, 10) < 0) return -1;
  /* INT64_MIN's magnitude is one more than INT64_MAX (and is negated
   * without passing through +2^63, which int64_t cannot hold). */
  if (mag > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) return -1;
  *out = neg ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
  *s = p;
  return 0;
}

int text_skip_dec(const char **s) {
  const char *p = *s;
  if (*p == '-' || *p == '+') p++;
  if (digit(*p, 10) < 0) return -1;
  while (digit(*p, 10) >= 0) p++;
  *s = p;
  return 0;
}

const char *text_skip_space(const char *s) {
  while (*s == ' ' || (*s >= '\t' && *s <= '\r')) s++;
  return s;
}
