/*
 * `run` in the foreground (see pid1.h).
 */
#define _GNU_SOURCE
#include "pid1.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "evlog.h"
#include "protocol.h"
#include "retry.h"
#include "service.h"
#include "text.h"

/* The ready file's directory: the lock's slot, which `run` has no use for. */
#define FD_READY_DIR ND_HELPER_FD_LOCK

static struct {
  const char *ready_name;    /* "" none */
  const char *notify_socket; /* "" none */
  int ready_made, notified;
  pid_t own_pgrp;            /* ours: the terminal goes back to it */
  char label[32];            /* the cgroup's name: run-<random> */
} p1;

/* A refusal before anything ran: one line on stderr (the caller's), exit 1. */
__attribute__((noreturn)) static void refuse(const char *why, int err) {
  char buf[512];
  struct nd_text t;
  text_init(&t, buf, sizeof buf - 1);
  text_str(&t, "node-daemonize run: ");
  text_str(&t, why);
  if (err) {
    text_str(&t, " (errno ");
    text_i64(&t, err);
    text_str(&t, ")");
  }
  text_char(&t, '\n');
  (void)!RETRY(write(2, t.buf, t.len));
  _exit(1);
}

/* /proc/self is us: false in a PID namespace whose /proc is another's
 * (unshare --pid without --mount-proc), where /proc/self is the pid of
 * the namespace outside and every child list would be wrong. */
static int proc_is_ours(void) {
  char buf[32];
  int fd = (int)RETRY(open("/proc/self/stat", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return 0;
  ssize_t n = RETRY(read(fd, buf, sizeof buf - 1)); /* the pid comes first: bounded */
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  long pid = 0;
  for (const char *c = buf; *c >= '0' && *c <= '9'; c++) pid = pid * 10 + (*c - '0');
  return pid == (long)getpid();
}

void pid1_prepare(struct nd_supervise_config *c, const struct plan *pl) {
  if (!proc_is_ours())
    refuse("/proc is not this PID namespace's own: mount one (unshare --pid --fork --mount-proc, or mount -t proc proc /proc in the namespace)", 0);
  /* Every orphan of the app must come to us, to be reaped and killed
   * (PID 1 of a namespace is one anyway). */
  if (c->fault_no_subreaper) refuse("cannot be a child subreaper: what the app leaves behind could not be found", EINVAL);
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) refuse("cannot be a child subreaper (PR_SET_CHILD_SUBREAPER): what the app leaves behind could not be found", errno);

  c->run.on = 1;
  c->run.once = (pl->h.flags & ND_PLAN_RUN_ONCE) != 0;
  c->run.forward_usr1 = (pl->h.flags & ND_PLAN_RUN_FORWARD_USR1) != 0;
  c->run.log_file = (pl->h.flags & ND_PLAN_RUN_LOG_FILE) != 0;
  /* As for daemons: a graceful restart needs sockets to hand over, and
   * ready() to know the new one took over. */
  c->run.graceful = !c->run.once && pl->h.nsockets > 0 && (pl->h.flags & ND_PLAN_WANT_READY);
  p1.ready_name = (pl->h.flags & ND_PLAN_RUN_READY_FILE) ? pl->ready_name : "";
  p1.notify_socket = pl->notify_socket;
  p1.own_pgrp = getpgrp();

  uint32_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) r = (uint32_t)getpid();
  struct nd_text t;
  text_init(&t, p1.label, sizeof p1.label);
  text_str(&t, "run-");
  for (int sh = 28; sh >= 0; sh -= 4) text_char(&t, "0123456789abcdef"[(r >> sh) & 15]);
  c->run.cgroup_label = p1.label;

  /* A terminal whose foreground we are: the app's group gets it (as tini
   * does), so that Ctrl-C, Ctrl-\ and Ctrl-Z reach the app once, from the
   * kernel, and it can read the terminal without SIGTTIN. The supervisor
   * ignores the job-control signals: it must never stop, and it hands the
   * terminal over (tcsetpgrp from the background) and back. */
  signal(SIGTTIN, SIG_IGN);
  signal(SIGTTOU, SIG_IGN);
  signal(SIGTSTP, SIG_IGN);
  if (isatty(0) && tcgetpgrp(0) == p1.own_pgrp) c->run.tty = 1;

  /* The slots `run` does not use stay occupied (supervise.h); the ready
   * file's directory never reaches the app. */
  (void)fcntl(FD_READY_DIR, F_SETFD, FD_CLOEXEC);
  /* A stale one, left on a volume by an earlier container: the app is
   * not ready yet. */
  if (p1.ready_name[0] != '\0' && RETRY(unlinkat(FD_READY_DIR, p1.ready_name, 0)) == 0) {
    evlog_init(getpid());
    evlog_begin(40, "ready-file-stale");
    evlog_end("removed a stale ready file left by an earlier run");
  }
}

/* READY=1 to NOTIFY_SOCKET (a path, or @ for the abstract namespace): we
 * are the main process systemd started, so no MAINPID. */
static void notify_ready(void) {
  const char *path = p1.notify_socket;
  size_t n = strlen(path);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (n == 0 || n >= sizeof sa.sun_path) return;
  memcpy(sa.sun_path, path, n);
  if (path[0] == '@') sa.sun_path[0] = '\0';
  int fd = (int)RETRY(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd < 0) return;
  static const char msg[] = "READY=1\n";
  ssize_t sent = RETRY(sendto(fd, msg, sizeof msg - 1, MSG_NOSIGNAL, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)));
  int err = sent < 0 ? errno : 0;
  close(fd);
  evlog_begin(sent < 0 ? 40 : 30, "notify");
  if (err) evlog_int("errno", err);
  evlog_end(sent < 0 ? "cannot send READY=1 to NOTIFY_SOCKET" : "sent READY=1 to NOTIFY_SOCKET");
}

void pid1_ready(struct service *s) {
  if (!s->cfg->run.on) return;
  if (p1.ready_name[0] != '\0' && !p1.ready_made) {
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
    int fd = (int)RETRY(openat(FD_READY_DIR, p1.ready_name, flags, 0644));
    /* Someone put one there meanwhile: ours replaces it (unlinkat removes
     * the entry, a symbolic link itself, never what it points to). */
    if (fd < 0 && errno == EEXIST && RETRY(unlinkat(FD_READY_DIR, p1.ready_name, 0)) == 0)
      fd = (int)RETRY(openat(FD_READY_DIR, p1.ready_name, flags, 0644));
    int err = fd < 0 ? errno : 0;
    if (fd >= 0) close(fd);
    p1.ready_made = fd >= 0;
    evlog_begin(fd < 0 ? 40 : 30, "ready-file");
    if (err) evlog_int("errno", err);
    evlog_end(fd < 0 ? "cannot make the ready file" : "made the ready file");
  }
  if (p1.notify_socket[0] != '\0' && !p1.notified) {
    p1.notified = 1;
    notify_ready();
  }
}

void pid1_unready(struct service *s) {
  if (!s->cfg->run.on || !p1.ready_made) return;
  p1.ready_made = 0;
  int gone = RETRY(unlinkat(FD_READY_DIR, p1.ready_name, 0)) == 0 || errno == ENOENT;
  evlog_begin(gone ? 30 : 40, "ready-file-removed");
  evlog_end(gone ? "removed the ready file" : "cannot remove the ready file");
}

void pid1_launch_failed(struct service *s, const struct generation *g) {
  if (!s->cfg->run.on) return;
  evlog_begin(50, "start-failed");
  evlog_int("daemonPid", g->pid);
  if (g->exec_failed) {
    evlog_int("stage", g->first_failure.stage);
    evlog_int("errno", g->first_failure.err);
  }
  evlog_status(g->status);
  evlog_end(g->exec_failed ? "the app could not be started (a step before exec failed)"
                           : g->exec_ok ? "the app ended before it was ready" : "the app died before exec");
}

void pid1_not_ready(struct service *s, const struct generation *g) {
  if (!s->cfg->run.on) return;
  evlog_begin(50, "not-ready");
  evlog_int("daemonPid", g->pid);
  evlog_int("waitReadyMs", s->cfg->window_ms);
  evlog_end("the app did not call ready() within --wait-ready: killed");
}

int pid1_exit_code(struct service *s, int code) {
  pid1_unready(s);
  if (s->cfg->run.tty) (void)tcsetpgrp(0, p1.own_pgrp); /* SIGTTOU is ignored */
  if (s->st.last_exit_kind == ND_EXIT_CODE) return (int)s->st.last_exit_value & 0xff;
  if (s->st.last_exit_kind == ND_EXIT_SIGNAL) return 128 + (int)s->st.last_exit_value;
  return code;
}
