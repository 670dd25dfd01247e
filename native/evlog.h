/*
 * The supervisor's event lines: one JSON line per event, shaped like the
 * launcher's pino lines (level, time, pid, name, "supervisor":true, event,
 * fields, msg), each written with one write(2) on the O_APPEND log fd, so
 * that concurrent writers never tear it (docs/supervision.md, "Supervisor
 * events in the log", lists them). And the log file itself: reopened on
 * SIGHUP. One line at a time:
 *
 *   evlog_begin(30, "ready");
 *   evlog_int("daemonPid", pid);
 *   evlog_end("the daemon is ready");
 */
#ifndef NODE_DAEMONIZE_EVLOG_H
#define NODE_DAEMONIZE_EVLOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "supervise.h"

/* pid: the supervisor's, in every line. */
void evlog_init(pid_t pid);

void evlog_begin(int level, const char *event);
void evlog_int(const char *key, int64_t v);
/* Our own strings only (ASCII, no quotes); escaped anyway. */
void evlog_str(const char *key, const char *v);
/* "exitCode" or "signal", from a wait status. */
void evlog_status(int wstatus);
/* Adds msg, ends the line and writes it. */
void evlog_end(const char *msg);

/* "SIGTERM", or "a real-time signal". */
const char *evlog_signal_name(int sig);

/* "exit code 1" / "signal SIGKILL", into buf. */
void evlog_describe(char *buf, size_t len, int wstatus);

/* Opens the log path again as the service user and puts it on the log fd
 * (SIGHUP: a rotation); says how it went in a line. */
void evlog_reopen(const struct nd_supervise_config *cfg);

#endif
