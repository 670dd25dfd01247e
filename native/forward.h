/*
 * `run`'s signals (pid1.h): which ones it waits for, and what each does.
 * TERM and INT stop the app gracefully (TERM, then KILL after
 * --stop-timeout); CHLD reaps; USR2 is a graceful restart only with
 * --respawn --listen --wait-ready; USR1 is held back unless
 * --forward-signal USR1 (it opens Node's inspector on 127.0.0.1:9229,
 * which any process sharing the network namespace could then drive); HUP
 * reopens a --log-file and is passed on; every other one is passed on to
 * the app.
 */
#ifndef NODE_DAEMONIZE_FORWARD_H
#define NODE_DAEMONIZE_FORWARD_H

#include <signal.h>
#include <sys/signalfd.h>

struct service;

/* Every signal `run` takes through its signalfd: all but KILL and STOP,
 * the ones the kernel raises for a fault (ILL, TRAP, ABRT, BUS, FPE, SEGV,
 * SYS: a fault of our own must kill us as it would), and TTIN/TTOU/TSTP,
 * which the supervisor ignores (job control of a terminal is the app's
 * group's business: it has the terminal; the supervisor must never stop). */
void forward_set(sigset_t *set);

/* One signal read from the signalfd, handled. */
void forward_signal(struct service *s, const struct signalfd_siginfo *si);

#endif
