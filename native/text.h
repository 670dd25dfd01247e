/*
 * Text in and out of fixed buffers, for the helper and the supervisor: the
 * log lines, the status messages, /proc paths, and the numbers read back
 * from /proc. The printf and scanf families are not used in the helper:
 * linked statically they add about 120 KB to it (the npm package ships two
 * such helpers), and they are not async-signal-safe. Everything here is,
 * and allocates nothing: plain loops over the caller's memory.
 */
#ifndef NODE_DAEMONIZE_TEXT_H
#define NODE_DAEMONIZE_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* A bounded buffer being filled: buf[len] is always '\0' and len < cap.
 * What does not fit is dropped (as snprintf cuts), never written past
 * buf[cap - 1]. */
struct nd_text {
  char *buf;
  size_t cap; /* at least 1 */
  size_t len;
};

void text_init(struct nd_text *t, char *buf, size_t cap);
void text_char(struct nd_text *t, char c);
void text_str(struct nd_text *t, const char *s);
/* Decimal, with a '-' for a negative one. */
void text_u64(struct nd_text *t, uint64_t v);
void text_i64(struct nd_text *t, int64_t v);
/* head, v in decimal, tail into buf: "/proc/" 42 "/stat". */
void text_number_path(char *buf, size_t cap, const char *head, int64_t v, const char *tail);

/* Parsers: each reads at *s and, on success, stores the value, moves *s
 * past what it read and returns 0. Without a digit at *s, or when the
 * value overflows, it returns -1 and leaves *s and *out as they were.
 * Nothing is skipped before the number: no space, no "0x". */
/* Decimal digits. */
int text_parse_u64(const char **s, uint64_t *out);
/* An optional '+' or '-', then decimal digits. */
int text_parse_i64(const char **s, int64_t *out);
/* Hex digits, either case. */
int text_parse_hex64(const char **s, uint64_t *out);
/* Past an optional sign and decimal digits of any length (a field read
 * past, never stored, cannot overflow); -1 without a digit. */
int text_skip_dec(const char **s);
/* Past spaces, tabs, newlines, \v, \f and \r (the white space of
 * isspace() in the C locale). */
const char *text_skip_space(const char *s);

#endif
