/*
 * `run`'s signals (see forward.h).
 */
#define _GNU_SOURCE
#include "forward.h"

#include <signal.h>
#include <sys/wait.h>

#include "evlog.h"
#include "service.h"

void forward_set(sigset_t *set) {
  sigemptyset(set);
  for (int sig = 1; sig <= ND_SIGNAL_LAST; sig++) {
    switch (sig) {
      case SIGKILL:
      case SIGSTOP:
      case SIGILL:
      case SIGTRAP:
      case SIGABRT:
      case SIGBUS:
      case SIGFPE:
      case SIGSEGV:
      case SIGSYS:
      case SIGTTIN:
      case SIGTTOU:
      case SIGTSTP:
        continue;
    }
    /* glibc's reserved pair: its own, never sent to a program. */
    if (sig >= ND_SIGNAL_GLIBC_RESERVED_FIRST && sig <= ND_SIGNAL_GLIBC_RESERVED_LAST) continue;
    sigaddset(set, sig);
  }
}

/* To every instance's current generation: the app's process (its own
 * children are its business, as without us). Our unreaped children: the
 * pids are theirs. */
static void pass_on(struct service *s, int sig) {
  int sent = 0;
  for (uint32_t i = 0; i < s->cfg->instances; i++) {
    struct generation *g = gen_instance(s->gens, i);
    if (g != NULL && g->pid > 0 && !g->exited && kill(g->pid, sig) == 0) sent++;
  }
  /* Said for the rare ones only: WINCH comes with every resize. */
  if (sig == SIGWINCH || sig == SIGCHLD) return;
  evlog_begin(30, "signal");
  evlog_str("signal", evlog_signal_name(sig));
  if (sig > 31) evlog_int("signo", sig);
  evlog_int("to", sent);
  evlog_end(sent ? "passed the signal on to the app" : "no app to pass the signal on to");
}

void forward_signal(struct service *s, const struct signalfd_siginfo *si) {
  int sig = (int)si->ssi_signo;
  switch (sig) {
    case SIGCHLD:
      return; /* the caller reaps */
    case SIGTERM:
    case SIGINT:
      service_event(s, SERVICE_EV_STOP, sig);
      return;
    case SIGUSR2:
      if (s->cfg->run.graceful) {
        service_event(s, SERVICE_EV_GRACEFUL, (int)si->ssi_pid);
        return;
      }
      break;
    case SIGUSR1:
      if (!s->cfg->run.forward_usr1) {
        evlog_begin(40, "signal-held");
        evlog_str("signal", "SIGUSR1");
        evlog_int("from", (int64_t)si->ssi_pid);
        evlog_end("SIGUSR1 not passed on: it opens Node's inspector; --forward-signal USR1 allows it");
        return;
      }
      break;
    case SIGHUP:
      if (s->cfg->run.log_file) evlog_reopen(s->cfg);
      break;
  }
  pass_on(s, sig);
}
