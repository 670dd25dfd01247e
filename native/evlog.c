/*
 * The supervisor's event lines and its log file (see evlog.h).
 */
#define _GNU_SOURCE
#include "evlog.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "protocol.h"
#include "retry.h"
#include "text.h"

/* The line being written. A line is cut at 1022 bytes (ours never come
 * near). */
static struct {
  pid_t pid;
  char buf[1024];
  struct nd_text line;
} ev;

void evlog_init(pid_t pid) { ev.pid = pid; }

void evlog_int(const char *key, int64_t v) {
  text_str(&ev.line, ",\"");
  text_str(&ev.line, key);
  text_str(&ev.line, "\":");
  text_i64(&ev.line, v);
}

void evlog_str(const char *key, const char *v) {
  text_str(&ev.line, ",\"");
  text_str(&ev.line, key);
  text_str(&ev.line, "\":\"");
  for (const char *p = v; *p; p++) {
    if (*p == '"' || *p == '\\') text_char(&ev.line, '\\');
    if ((unsigned char)*p < 0x20) continue;
    text_char(&ev.line, *p);
  }
  text_str(&ev.line, "\"");
}

void evlog_begin(int level, const char *event) {
  text_init(&ev.line, ev.buf, sizeof ev.buf - 1);
  text_str(&ev.line, "{\"level\":");
  text_i64(&ev.line, level);
  text_str(&ev.line, ",\"time\":");
  text_i64(&ev.line, clock_real_ms());
  text_str(&ev.line, ",\"pid\":");
  text_i64(&ev.line, ev.pid);
  text_str(&ev.line, ",\"name\":\"node-daemonize\",\"supervisor\":true");
  evlog_str("event", event);
}

void evlog_end(const char *msg) {
  evlog_str("msg", msg);
  text_str(&ev.line, "}\n");
  (void)RETRY(write(ND_HELPER_FD_LOG, ev.line.buf, ev.line.len));
}

const char *evlog_signal_name(int sig) {
  /* A char table: no pointers, nothing to relocate or to write. */
  static const char names[][10] = {"0",       "SIGHUP",  "SIGINT",    "SIGQUIT",   "SIGILL",    "SIGTRAP", "SIGABRT", "SIGBUS",
                                   "SIGFPE",  "SIGKILL", "SIGUSR1",   "SIGSEGV",   "SIGUSR2",   "SIGPIPE", "SIGALRM", "SIGTERM",
                                   "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP",   "SIGTSTP",   "SIGTTIN", "SIGTTOU", "SIGURG",
                                   "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF",   "SIGWINCH",  "SIGIO",   "SIGPWR",  "SIGSYS"};
  return sig > 0 && sig < (int)(sizeof names / sizeof names[0]) ? names[sig] : "a real-time signal";
}

void evlog_describe(char *buf, size_t len, int wstatus) {
  struct nd_text t;
  text_init(&t, buf, len);
  if (WIFEXITED(wstatus)) {
    text_str(&t, "exit code ");
    text_i64(&t, WEXITSTATUS(wstatus));
  } else if (WIFSIGNALED(wstatus)) {
    text_str(&t, "signal ");
    text_str(&t, evlog_signal_name(WTERMSIG(wstatus)));
  } else {
    text_str(&t, "status ");
    text_i64(&t, wstatus);
  }
}

void evlog_status(int wstatus) {
  if (WIFEXITED(wstatus)) evlog_int("exitCode", WEXITSTATUS(wstatus));
  else if (WIFSIGNALED(wstatus)) evlog_str("signal", evlog_signal_name(WTERMSIG(wstatus)));
}

/* The path comes in the config (the plan's NODE_DAEMONIZE_LOG_FILE). It is
 * opened as the service user: setfsuid and setfsgid around an open with
 * O_NOFOLLOW|O_NONBLOCK|O_APPEND, then fstat: a regular file with one
 * link. A file created here is created by the service user (as the
 * daemon's own reopen would), never by root. */
void evlog_reopen(const struct nd_supervise_config *cfg) {
  if (cfg->log_path == NULL) return;
  uid_t old_uid = 0;
  gid_t old_gid = 0;
  if (cfg->set_ids) {
    old_gid = (gid_t)setfsgid(cfg->gid);
    old_uid = (uid_t)setfsuid(cfg->uid);
  }
  int fd = (int)RETRY(open(cfg->log_path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0640));
  int err = fd < 0 ? errno : 0;
  if (cfg->set_ids) {
    setfsuid(old_uid);
    setfsgid(old_gid);
  }
  struct stat sb;
  const char *why = NULL;
  if (fd < 0) why = "cannot open the log file";
  else if (fstat(fd, &sb) < 0) why = "cannot fstat the log file";
  else if (!S_ISREG(sb.st_mode)) why = "the log path is not a regular file";
  else if (sb.st_nlink != 1) why = "the log file has more than one link";
  if (why == NULL) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (dup3(fd, ND_HELPER_FD_LOG, O_CLOEXEC) < 0) why = "cannot replace the log fd";
  }
  if (fd >= 0) close(fd);
  if (why != NULL) {
    evlog_begin(40, "reopen-failed");
    if (err) evlog_int("errno", err);
    evlog_end(why);
    return;
  }
  evlog_begin(30, "reopen");
  evlog_end("reopened the log file");
}
