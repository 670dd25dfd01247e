/*
 * /proc for the helper's window and the supervisor (see proc.h). Fixed
 * buffers, nothing allocated.
 */
#define _GNU_SOURCE
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dirents.h"
#include "retry.h"
#include "text.h"

/* The buffers, one each: a stat line is read while /proc is listed. */
static struct {
  char dents[16384];
  char stat[1024];
  char kids[8192];
} pb;

/* Read a /proc text file into buf, NUL-terminated. When it does not fit,
 * the text is cut back to its last space: a list of pids must never end in
 * a pid cut short (12345 read as 123 would kill the wrong process); who is
 * left over is found on the next pass. Returns the length kept, or -1;
 * *cut says whether it was cut. */
static ssize_t read_text(const char *path, char *buf, size_t cap, int *cut) {
  int fd = (int)RETRY(open(path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return -1;
  size_t got = 0;
  *cut = 0;
  for (;;) {
    ssize_t n = RETRY(read(fd, buf + got, cap - 1 - got));
    if (n <= 0) break;
    got += (size_t)n;
    if (got == cap - 1) {
      while (got > 0 && buf[got - 1] != ' ' && buf[got - 1] != '\n') got--;
      *cut = 1;
      break;
    }
  }
  close(fd);
  buf[got] = '\0';
  return (ssize_t)got;
}

static int stat_int(const char **p, int *out) {
  int64_t v;
  *p = text_skip_space(*p);
  if (text_parse_i64(p, &v) < 0 || v < INT_MIN || v > INT_MAX) return -1;
  *out = (int)v;
  return 0;
}

int proc_stat_of(long pid, struct proc_stat *ps) {
  char path[64];
  int cut;
  text_number_path(path, sizeof path, "/proc/", pid, "/stat");
  if (read_text(path, pb.stat, sizeof pb.stat, &cut) <= 0) return -1;
  /* The name (comm) may hold anything, ')' and spaces included: the
   * fields start after the last ')' and the space after it. */
  char *paren = strrchr(pb.stat, ')');
  if (paren == NULL || paren[1] == '\0' || paren[2] == '\0') return -1;
  const char *p = paren + 2;
  ps->state = *p++;
  if (stat_int(&p, &ps->ppid) < 0 || stat_int(&p, &ps->pgrp) < 0 || stat_int(&p, &ps->session) < 0) return -1;
  /* 15 fields read past (tty tpgid flags minflt cminflt majflt cmajflt
   * utime stime cutime cstime priority nice threads itrealvalue), then
   * starttime. */
  uint64_t start = 0;
  int ok = 1;
  for (int i = 0; i < 15 && ok; i++) {
    p = text_skip_space(p);
    ok = text_skip_dec(&p) == 0;
  }
  if (ok) {
    p = text_skip_space(p);
    ok = text_parse_u64(&p, &start) == 0;
  }
  ps->start = ok ? start : 0;
  return 0;
}

uint64_t proc_start_ticks(pid_t pid) {
  struct proc_stat ps;
  return proc_stat_of((long)pid, &ps) < 0 ? 0 : (uint64_t)ps.start;
}

int proc_dead(char state) { return state == 'Z' || state == 'X'; }

int proc_catches(pid_t pid, int sig) {
  char path[64], buf[4096];
  text_number_path(path, sizeof path, "/proc/", pid, "/status");
  int fd = (int)RETRY(open(path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return 0;
  ssize_t n = RETRY(read(fd, buf, sizeof buf - 1));
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char *p = strstr(buf, "\nSigCgt:");
  if (p == NULL) return 0;
  const char *hex = text_skip_space(p + 8);
  uint64_t mask;
  if (text_parse_hex64(&hex, &mask) < 0) return 0;
  return (mask & (1ULL << (sig - 1))) != 0;
}

int proc_kill_in_session(pid_t self, pid_t sid, pid_t pgrp) {
  int found = 0;
  int dir = (int)RETRY(open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir < 0) return 0;
  struct dirents d = {dir, pb.dents, sizeof pb.dents, 0, 0};
  const char *name;
  unsigned char type;
  while ((name = dirents_next(&d, &type)) != NULL) {
    const char *c = name;
    uint64_t pid;
    if (text_parse_u64(&c, &pid) < 0 || *c != '\0' || pid <= 1 || pid > INT_MAX || pid == (uint64_t)self) continue;
    struct proc_stat ps;
    if (proc_stat_of((long)pid, &ps) < 0) continue;
    if (ps.session != sid || (pgrp > 0 && ps.pgrp != pgrp) || proc_dead(ps.state)) continue;
    kill((pid_t)pid, SIGKILL);
    found++;
  }
  close(dir);
  return found;
}

/* self's children into kids, as proc_children; -1 when the list cannot be
 * read. */
static long children(pid_t self, long *kids, size_t cap, int *whole) {
  char path[64];
  int cut = 1;
  text_number_path(path, sizeof path, "/proc/self/task/", self, "/children");
  *whole = 0;
  if (read_text(path, pb.kids, sizeof pb.kids, &cut) < 0) return -1;
  size_t n = 0;
  long pid = 0;
  int in = 0;
  for (char *p = pb.kids;; p++) {
    if (*p >= '0' && *p <= '9') {
      if (pid <= INT_MAX) pid = pid * 10 + (*p - '0'); /* past INT_MAX it is no pid: passed over */
      in = 1;
      continue;
    }
    if (in && pid > 1 && pid <= INT_MAX) {
      if (n == cap) return (long)n;
      kids[n++] = pid;
    }
    pid = 0;
    in = 0;
    if (*p == '\0') break;
  }
  *whole = !cut;
  return (long)n;
}

size_t proc_children(pid_t self, long *kids, size_t cap, int *whole) {
  long n = children(self, kids, cap, whole);
  return n < 0 ? 0 : (size_t)n;
}

int proc_kill_children(pid_t self) {
  long kids[1024];
  int whole, count = 0;
  long n = children(self, kids, sizeof kids / sizeof kids[0], &whole);
  for (long k = 0; k < n; k++)
    if (kill((pid_t)kids[k], SIGKILL) == 0) count++;
  return n < 0 ? -1 : count;
}

int proc_has_children(void) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  return RETRY(waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT)) == 0;
}

int proc_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}
