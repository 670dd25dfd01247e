/*
 * Status records (struct nd_record, protocol.h): one write(2) each, so a
 * record on a pipe is never torn. Only the helper writes to the caller's
 * pipe; the daemon's records reach the caller through the helper.
 */
#ifndef NODE_DAEMONIZE_RECORDS_H
#define NODE_DAEMONIZE_RECORDS_H

#include <stdint.h>

/* One record on fd. Returns -1 when the reader is gone (EPIPE: SIGPIPE is
 * ignored until the daemon's last step). Async-signal-safe. */
int daemon_send_record(int fd, int stage, int sys, int err, int64_t value);

/* The helper's report to the caller (ND_HELPER_FD_STATUS). If the caller
 * is gone, the helper still finishes its job, so nothing is returned. */
void helper_report(int stage, int sys, int err, int64_t value);

#endif
