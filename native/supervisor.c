/*
 * The supervisor (--respawn): one single-threaded poll loop over a
 * signalfd (SIGCHLD, TERM/INT/QUIT, HUP, USR2), the generations' record
 * and ready pipes, and timers. The loop only turns those into events;
 * what each event does is the service's tables (service.h). Nothing is
 * allocated: every buffer is static or on the stack (the service itself
 * lives on nd_supervise's), and the plan it forks generations from was
 * loaded by the helper before the fork. See supervise.h for the fd layout
 * it starts with, docs/supervision.md for the behaviour.
 *
 * The modules, by concern:
 *   service.c     the phase machine: the tables of actions, the timers, the stop
 *   launch.c      the first generation's window, which decides the launch
 *   respawn.c     the current generation and the restart policy
 *                 (supervise_policy.c: the pure policy)
 *   graceful.c    a graceful restart's hand-over (one instance at a time: a roll)
 *   memory.c      --max-memory: the instances' RSS readings, their replacement
 *   generation.c  a generation: fork, pipes, the table
 *   leftovers.c   what a generation leaves behind (cgroup.c, proc.c)
 *   evlog.c       the event lines in the log; the log's reopen
 *   statefile.c   the state file
 *   pid1.c        `run`: the supervisor in the foreground, exec'd in place
 *                 of the CLI (forward.c: its signals)
 */
#define _GNU_SOURCE
#include "supervise.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "evlog.h"
#include "forward.h"
#include "launch.h"
#include "memory.h"
#include "protocol.h"
#include "respawn.h"
#include "retry.h"
#include "service.h"
#include "statefile.h"
#include "text.h"

/* Reap every child that has exited, noting the generations among them;
 * their deaths are handled by service_deaths. Also called while leftovers
 * are being killed. */
static void reap_all(void *arg) {
  struct service *s = arg;
  for (;;) {
    int status = 0;
    pid_t p = (pid_t)RETRY(waitpid(-1, &status, WNOHANG));
    if (p <= 0) return;
    gen_reaped(s->gens, p, status);
  }
}

static void on_signal(struct service *s, const struct signalfd_siginfo *si) {
  if (s->cfg->run.on) { /* `run`: its own table (forward.c) */
    if (si->ssi_signo == SIGCHLD) {
      reap_all(s);
      service_deaths(s);
    } else {
      forward_signal(s, si);
    }
    return;
  }
  switch (si->ssi_signo) {
    case SIGCHLD:
      reap_all(s);
      service_deaths(s);
      break;
    case SIGUSR2:
      service_event(s, SERVICE_EV_GRACEFUL, (int)si->ssi_pid);
      break;
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
      service_event(s, SERVICE_EV_STOP, (int)si->ssi_signo);
      break;
    case SIGHUP:
      service_event(s, SERVICE_EV_HUP, 0);
      break;
  }
}

/* The pid file's path, from the state file's (`<pidFile>.state` at
 * ND_HELPER_FD_STATE), into path: it names the service's cgroup. NULL
 * when unknown. */
static const char *pid_file_path(char *path, size_t cap) {
  char fdpath[32];
  text_number_path(fdpath, sizeof fdpath, "/proc/self/fd/", ND_HELPER_FD_STATE, "");
  ssize_t n = readlink(fdpath, path, cap - 1);
  if (n <= 0) return NULL;
  path[n] = '\0';
  char *suffix = strstr(path, ".state");
  if (suffix != NULL) *suffix = '\0';
  return path;
}

/* One pass: the fds of every generation (its records until their end,
 * then its ready pipe) and the signals, waited for until the earliest
 * deadline; then every timer that ran out. */
static void pass(struct service *s) {
  struct pollfd fds[1 + GEN_TABLE];
  struct generation *of[1 + GEN_TABLE];
  nfds_t n = 0;
  fds[n].fd = s->sigfd;
  fds[n].events = POLLIN;
  of[n++] = NULL;
  for (size_t r = 0; r < GEN_RANKS; r++)
    for (size_t i = 0; i < GEN_TABLE; i++) {
      struct generation *g = &s->gens[i];
      if (g->role != gen_by_rank[r] || (g->rep_r < 0 && g->ready_r < 0)) continue;
      fds[n].fd = g->rep_r >= 0 ? g->rep_r : g->ready_r;
      fds[n].events = POLLIN;
      of[n++] = g;
    }
  int64_t deadline = service_deadline(s);
  int timeout = -1;
  if (deadline) {
    int64_t left = deadline - clock_mono_ms();
    timeout = left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
  }
  int r = poll(fds, n, timeout);
  if (r < 0 && errno != EINTR) clock_sleep_ms(10);
  if (r > 0) {
    for (nfds_t k = 1; k < n; k++) {
      struct generation *g = of[k];
      /* An earlier event may have closed it. */
      if (!fds[k].revents) continue;
      if (g->rep_r >= 0 && g->rep_r == fds[k].fd) service_read_records(s, g);
      else if (g->rep_r < 0 && g->ready_r >= 0 && g->ready_r == fds[k].fd) service_read_ready(s, g);
    }
    if (fds[0].revents) {
      struct signalfd_siginfo si;
      while (RETRY(read(s->sigfd, &si, sizeof si)) == (ssize_t)sizeof si) on_signal(s, &si);
    }
  }
  service_timers(s);
}

/* Each instance's policy memory (service.h): zero pages until used. */
static struct respawn respawns[ND_INSTANCES_MAX];

int nd_supervise(const struct nd_supervise_config *c) {
  struct service s;
  memset(&s, 0, sizeof s);
  s.cfg = c;
  s.self = getpid();
  s.sigfd = -1;
  s.status_fd = ND_HELPER_FD_STATUS;
  s.phase = PHASE_STARTING;
  gen_table_init(s.gens);
  s.respawn = respawns;
  for (uint32_t i = 0; i < c->instances; i++) nd_tally_init(&s.respawn[i].tally);
  statefile_init(&s.st, c, s.self);
  evlog_init(s.self);
  /* Its own name in ps and /proc/<pid>/comm (argv stays the helper's). */
  prctl(PR_SET_NAME, "nd-supervisor");

  /* Every orphan of a generation comes to us, so that it can be reaped and
   * killed; where the kernel (or qemu-user) refuses, say so and go on. */
  if (c->fault_no_subreaper || prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    s.degraded = 1;
    s.st.flags |= ND_STATE_F_NO_SUBREAPER;
  }
  (void)!chdir("/");

  sigset_t set;
  if (c->run.on) {
    /* Exec'd with every signal blocked (nothing sent during the hand-over
     * is lost): from now on exactly the ones it takes are. */
    forward_set(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
  } else {
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGUSR1, SIG_IGN);
  }
  s.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (s.sigfd < 0) {
    launch_record(&s, ND_STAGE_fork, ND_SYS_default, errno, 0);
    return 1;
  }
  /* The log is reopened with the service user's credentials for the
   * filesystem (setfsuid/setfsgid around the open); its supplementary
   * groups are taken here, once, so that root's own groups never grant it
   * anything there. As root (euid 0) the supervisor loses nothing by it. */
  if (c->set_ids && setgroups(c->plan->h.ngroups, c->plan->groups) < 0) {
    evlog_begin(40, "setgroups-failed");
    evlog_int("errno", errno);
    evlog_end("cannot take the service user's groups: the log is reopened with the supervisor's own");
  }
  if (s.degraded) {
    evlog_begin(40, "no-subreaper");
    evlog_end("PR_SET_CHILD_SUBREAPER is not available: what a generation leaves behind is found by its session only");
  }
  /* How what a generation leaves behind will be found (leftovers.h): said
   * in the state file, and in the log's "launched" line. */
  char pidfile[PATH_MAX];
  const char *label = c->run.on ? c->run.cgroup_label : pid_file_path(pidfile, sizeof pidfile);
  struct leftovers_config lc = {s.self, c->sid, !s.degraded, c->fault_no_cgroup, label, reap_all, &s, c->run.on};
  leftovers_init(&lc, s.gens, &s.mechanism);
  if (s.mechanism.cgroup) s.st.flags |= ND_STATE_F_CGROUP;

  memory_init(&s);
  respawn_start(&s, 0);
  for (;;) pass(&s);
}
