/*
 * Per-generation cgroups (v2): see cgroup.h. Where the supervisor cannot
 * make them (no cgroup2 mount, no right to write there, a kernel without
 * cgroup.kill or CLONE_INTO_CGROUP, a seccomp filter refusing clone3),
 * cgroup_setup says why and leftovers.c falls back to /proc.
 */
#define _GNU_SOURCE
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "dirents.h"
#include "retry.h"
#include "text.h"

#ifndef SYS_clone3
#define SYS_clone3 435 /* the same number on every architecture */
#endif
#define ND_CLONE_INTO_CGROUP 0x200000000ULL
#define ND_CGROUP2_SUPER_MAGIC 0x63677270

/* struct clone_args up to its cgroup field (CLONE_ARGS_SIZE_VER2): defined
 * here, as build hosts' kernel headers may predate it. */
struct nd_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* Everything this file keeps: buffers, nothing allocated. */
static struct {
  char buf[4096];             /* the /proc files read at setup, cgroup.type, cgroup.events */
  char line[4096];            /* /proc/self/mountinfo, a line at a time */
  char own[2048];             /* our cgroup's path, from /proc/self/cgroup */
  char dir[4096];             /* the directory of our cgroup */
  char root[2048], mnt[2048]; /* a cgroup2 mount's root and mount point */
  char dents[4096];           /* directory entries */
} cg;

/* A whole small file at dirfd/name into buf, NUL-terminated; -1 if it does
 * not fit or cannot be read. */
static ssize_t read_small(int dirfd, const char *name) {
  int fd = (int)RETRY(openat(dirfd, name, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return -1;
  size_t got = 0;
  for (;;) {
    ssize_t n = RETRY(read(fd, cg.buf + got, sizeof cg.buf - 1 - got));
    if (n <= 0) break;
    got += (size_t)n;
    if (got == sizeof cg.buf - 1) break;
  }
  close(fd);
  if (got == sizeof cg.buf - 1) return -1;
  cg.buf[got] = '\0';
  return (ssize_t)got;
}

/* Our cgroup2 path: the "0::" line of /proc/self/cgroup. */
static int find_own_path(void) {
  if (read_small(AT_FDCWD, "/proc/self/cgroup") < 0) return ENOENT;
  for (char *p = cg.buf; *p;) {
    char *end = strchr(p, '\n');
    if (end) *end = '\0';
    if (strncmp(p, "0::", 3) == 0 && p[3] == '/' && strlen(p + 3) < sizeof cg.own) {
      strcpy(cg.own, p + 3);
      return 0;
    }
    if (!end) break;
    p = end + 1;
  }
  return ENOENT; /* cgroup v1 only */
}

/* mountinfo's octal escapes (\040 for a space...) undone, into out. */
static int unescape(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' &&
        s[i + 3] <= '7') {
      c = (char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
      i += 3;
    }
    if (o + 1 >= cap) return -1;
    out[o++] = c;
  }
  out[o] = '\0';
  return 0;
}

/* One mountinfo line: a cgroup2 mount whose root holds our path gives the
 * directory of our cgroup (its mount point + our path below its root). */
static int try_mount_line(char *l) {
  char *sep = strstr(l, " - ");
  if (sep == NULL || strncmp(sep + 3, "cgroup2 ", 8) != 0) return -1;
  /* id parent major:minor root mountpoint ... */
  char *f[5];
  char *p = l;
  for (int i = 0; i < 5; i++) {
    f[i] = p;
    p = strchr(p, ' ');
    if (p == NULL || p > sep) return -1;
    p++;
  }
  if (unescape(f[3], (size_t)(f[4] - f[3] - 1), cg.root, sizeof cg.root) < 0) return -1;
  if (unescape(f[4], (size_t)(p - f[4] - 1), cg.mnt, sizeof cg.mnt) < 0) return -1;
  size_t rl = strcmp(cg.root, "/") == 0 ? 0 : strlen(cg.root);
  if (rl > 0 && (strncmp(cg.own, cg.root, rl) != 0 || (cg.own[rl] != '\0' && cg.own[rl] != '/'))) return -1;
  if (strlen(cg.mnt) + strlen(cg.own + rl) + 1 > sizeof cg.dir) return -1;
  strcpy(cg.dir, cg.mnt);
  strcat(cg.dir, cg.own + rl);
  return 0;
}

/* The directory of our cgroup, from /proc/self/mountinfo (read line by
 * line through a fixed buffer: it may hold thousands of mounts; a line
 * longer than the buffer is skipped). */
static int find_own_dir(void) {
  int fd = (int)RETRY(open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return errno;
  size_t have = 0;
  int skipping = 0, found = 0;
  while (!found) {
    ssize_t n = RETRY(read(fd, cg.line + have, sizeof cg.line - 1 - have));
    if (n <= 0) break;
    have += (size_t)n;
    cg.line[have] = '\0';
    char *start = cg.line, *nl;
    while (!found && (nl = strchr(start, '\n')) != NULL) {
      *nl = '\0';
      if (!skipping && try_mount_line(start) == 0) found = 1;
      skipping = 0;
      start = nl + 1;
    }
    have -= (size_t)(start - cg.line);
    memmove(cg.line, start, have);
    if (have == sizeof cg.line - 1) { /* a line longer than the buffer */
      have = 0;
      skipping = 1;
    }
  }
  close(fd);
  return found ? 0 : ENOENT;
}

static int is_cgroup2(int fd) {
  struct statfs sf;
  return RETRY(fstatfs(fd, &sf)) == 0 && (uint64_t)sf.f_type == ND_CGROUP2_SUPER_MAGIC;
}

/* "nd-<label>-<hash>-": the label is the pid file's name without ".pid",
 * cut to 40 bytes of [A-Za-z0-9_-]; the hash (FNV-1a of the whole path)
 * tells services of the same name in different directories apart. */
static void name_prefix(struct nd_text *t, const char *pidfile) {
  const char *base = strrchr(pidfile, '/');
  base = base ? base + 1 : pidfile;
  size_t n = strlen(base);
  if (n > 4 && strcmp(base + n - 4, ".pid") == 0) n -= 4;
  if (n > 40) n = 40;
  text_str(t, "nd-");
  for (size_t i = 0; i < n; i++) {
    char c = base[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    text_char(t, ok ? c : '_');
  }
  uint32_t h = 2166136261u;
  for (const char *p = pidfile; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
  text_char(t, '-');
  for (int s = 28; s >= 0; s -= 4) text_char(t, "0123456789abcdef"[(h >> s) & 15]);
  text_char(t, '-');
}

/* Every subdirectory of dirfd/name that is empty, then itself. */
static void remove_tree(int dirfd, const char *name) {
  int d = (int)RETRY(openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (d >= 0) {
    struct dirents ds = {d, cg.dents, sizeof cg.dents, 0, 0};
    const char *e;
    unsigned char type;
    while ((e = dirents_next(&ds, &type)) != NULL)
      if (type == DT_DIR && strcmp(e, ".") != 0 && strcmp(e, "..") != 0) (void)RETRY(unlinkat(d, e, AT_REMOVEDIR));
    close(d);
  }
  (void)RETRY(unlinkat(dirfd, name, AT_REMOVEDIR));
}

/* Service cgroups left by supervisors that are gone (one killed with
 * SIGKILL cannot remove its own): "nd-...-<pid>" for the same pid file
 * (prefix: the lock on the pid file is ours now, so that supervisor is
 * gone), or for any pid file when no process has that pid any more. Only
 * empty cgroups go: rmdir never kills, and what still runs in one keeps
 * it. */
static void remove_stale(int parent, const char *prefix, const char *mine) {
  int d = (int)RETRY(openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d < 0) return;
  size_t pl = strlen(prefix);
  char victims[8][96];
  size_t nv = 0;
  struct dirents ds = {d, cg.dents, sizeof cg.dents, 0, 0};
  const char *e;
  unsigned char type;
  while (nv < 8 && (e = dirents_next(&ds, &type)) != NULL) {
    size_t len = strlen(e);
    if (type != DT_DIR || strncmp(e, "nd-", 3) != 0 || len >= sizeof victims[0] || strcmp(e, mine) == 0) continue;
    const char *dash = strrchr(e, '-');
    const char *p = dash + 1;
    uint64_t pid;
    if (text_parse_u64(&p, &pid) < 0 || *p != '\0') continue;
    char proc[40];
    text_number_path(proc, sizeof proc, "/proc/", (int64_t)pid, "");
    int same = (size_t)(dash + 1 - e) == pl && strncmp(e, prefix, pl) == 0;
    if (same || (RETRY(faccessat(AT_FDCWD, proc, F_OK, 0)) < 0 && errno == ENOENT)) strcpy(victims[nv++], e);
  }
  close(d);
  /* Removed after the listing: remove_tree reads dents too. A few at each
   * start: the rest goes at the next ones. */
  for (size_t i = 0; i < nv; i++) remove_tree(parent, victims[i]);
}

pid_t cgroup_clone_into(int cgdir) {
#if defined(__GLIBC__) && (__GLIBC__ < 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ < 25))
  /* glibc before 2.25 caches the pid, which a raw clone3 does not update. */
  (void)cgdir;
  errno = ENOSYS;
  return -1;
#else
  /* A raw clone3 without CLONE_VM is a fork: the child runs on a copy of
   * this stack. What glibc's fork() does besides (atfork handlers, its
   * locks, the cached tid) does not matter here: the supervisor is single
   * threaded and allocates nothing, and the child only runs the daemon_*
   * steps (async-signal-safe calls) until it execs. */
  struct nd_clone_args a;
  memset(&a, 0, sizeof a);
  a.flags = ND_CLONE_INTO_CGROUP;
  a.exit_signal = SIGCHLD;
  a.cgroup = (uint64_t)cgdir;
  return (pid_t)syscall(SYS_clone3, &a, sizeof a);
#endif
}

/* The service cgroup's inode number (its cgroup id), for the state
 * record: with its path, what finds it once we are gone. 0 if unknown. */
static void note_id(struct cgroup_tree *t) {
  struct stat sb;
  t->id = RETRY(fstat(t->service, &sb)) == 0 ? (uint64_t)sb.st_ino : 0;
}

/* The service's cgroup was removed under us (by root; or, between two
 * generations while empty, by another supervisor's clean-up of what it
 * took for a dead supervisor's, from another pid namespace): make it
 * again, so that the next generation still gets a cgroup. */
static int remake_service(struct cgroup_tree *t) {
  if (RETRY(mkdirat(t->parent, t->name, 0755)) < 0 && errno != EEXIST) return -1;
  int fd = (int)RETRY(openat(t->parent, t->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd < 0) return -1;
  close(t->service);
  t->service = fd;
  note_id(t);
  return 0;
}

int cgroup_make(struct cgroup_tree *t, uint32_t *number) {
  char name[24];
  uint32_t n = t->made + 1;
  text_number_path(name, sizeof name, "g", n, "");
  int r = RETRY(mkdirat(t->service, name, 0755));
  if (r < 0 && errno == ENOENT && remake_service(t) == 0) r = RETRY(mkdirat(t->service, name, 0755));
  if (r < 0) return -errno;
  int fd = (int)RETRY(openat(t->service, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd < 0) return -errno;
  t->made = n;
  *number = n;
  return fd;
}

int cgroup_remove(struct cgroup_tree *t, uint32_t number) {
  char name[24];
  text_number_path(name, sizeof name, "g", number, "");
  return RETRY(unlinkat(t->service, name, AT_REMOVEDIR)) < 0 ? errno : 0;
}

int cgroup_kill(int cgdir) {
  int fd = (int)RETRY(openat(cgdir, "cgroup.kill", O_WRONLY | O_CLOEXEC));
  if (fd < 0) return errno;
  int err = RETRY(write(fd, "1", 1)) == 1 ? 0 : errno;
  close(fd);
  return err;
}

/* "populated 0|1" in cgroup.events, read through fd from its start. */
static int events_populated(int fd) {
  ssize_t n = RETRY(pread(fd, cg.buf, sizeof cg.buf - 1, 0));
  if (n <= 0) return -1;
  cg.buf[n] = '\0';
  char *p = strstr(cg.buf, "populated ");
  return p == NULL ? -1 : p[10] == '1';
}

int cgroup_populated(int cgdir) {
  int fd = (int)RETRY(openat(cgdir, "cgroup.events", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return -1;
  int r = events_populated(fd);
  close(fd);
  return r;
}

int cgroup_wait_empty(int cgdir, int64_t deadline, void (*tick)(void)) {
  int fd = (int)RETRY(openat(cgdir, "cgroup.events", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return 0;
  int empty = 0;
  for (;;) {
    if (tick) tick();
    int r = events_populated(fd);
    if (r == 0) {
      empty = 1;
      break;
    }
    int64_t left = deadline - clock_mono_ms();
    if (r < 0 || left <= 0) break;
    /* cgroup.events signals a change with POLLPRI; 20 ms at most, so that
     * tick runs (and reaps) while the kill is under way. */
    struct pollfd p = {fd, POLLPRI, 0};
    (void)poll(&p, 1, left < 20 ? (int)left : 20);
  }
  close(fd);
  return empty;
}

/* A child cloned into cgroup dir cgdir that exits at once: clone3 and
 * CLONE_INTO_CGROUP work here (a seccomp filter may refuse clone3). */
static int probe(int cgdir) {
  pid_t pid = cgroup_clone_into(cgdir);
  if (pid < 0) return errno;
  if (pid == 0) _exit(0);
  int status;
  (void)RETRY(waitpid(pid, &status, 0));
  return 0;
}

/* Setup failed at step: nothing made stays. */
static int fail(struct cgroup_tree *t, const char *step, int err) {
  t->step = step;
  cgroup_teardown(t);
  return err != 0 ? err : EIO;
}

int cgroup_setup(struct cgroup_tree *t, const char *pidfile, pid_t self) {
  memset(t, 0, sizeof *t);
  t->parent = t->service = -1;
  int err = find_own_path();
  if (err) return fail(t, "cgroup2", err);
  if ((err = find_own_dir()) != 0) return fail(t, "cgroup2", err);
  t->parent = (int)RETRY(open(cg.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (t->parent < 0) return fail(t, "cgroup2", errno);
  if (!is_cgroup2(t->parent)) return fail(t, "cgroup2", ENOTSUP);

  struct nd_text name;
  text_init(&name, t->name, sizeof t->name);
  name_prefix(&name, pidfile);
  char prefix[sizeof t->name];
  strcpy(prefix, t->name);
  text_i64(&name, self);
  remove_stale(t->parent, prefix, t->name);
  struct nd_text path;
  text_init(&path, t->path, sizeof t->path);
  text_str(&path, strcmp(cg.own, "/") == 0 ? "" : cg.own);
  text_char(&path, '/');
  text_str(&path, t->name);
  /* dir (the mount point and our own path) and the name; left empty when
   * it does not fit: no record is better than a cut one. */
  size_t dl = strlen(cg.dir);
  while (dl > 0 && cg.dir[dl - 1] == '/') dl--;
  if (dl + 1 + strlen(t->name) < sizeof t->dir) {
    memcpy(t->dir, cg.dir, dl);
    t->dir[dl] = '/';
    strcpy(t->dir + dl + 1, t->name);
  }

  if (RETRY(mkdirat(t->parent, t->name, 0755)) < 0) return fail(t, "mkdir", errno);
  t->service = (int)RETRY(openat(t->parent, t->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (t->service < 0) return fail(t, "mkdir", errno);
  note_id(t);
  /* A threaded subtree cannot take processes in a new child. */
  if (read_small(t->service, "cgroup.type") < 0 || strcmp(cg.buf, "domain\n") != 0) return fail(t, "cgroup.type", ENOTSUP);
  if (RETRY(faccessat(t->service, "cgroup.kill", F_OK, 0)) < 0) return fail(t, "cgroup.kill", errno); /* before 5.14 */
  if (RETRY(mkdirat(t->service, "probe", 0755)) < 0) return fail(t, "mkdir", errno);
  int p = (int)RETRY(openat(t->service, "probe", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (p < 0) return fail(t, "mkdir", errno);
  err = probe(p);
  close(p);
  (void)RETRY(unlinkat(t->service, "probe", AT_REMOVEDIR));
  if (err) return fail(t, "clone3", err);
  return 0;
}

void cgroup_teardown(struct cgroup_tree *t) {
  if (t->service >= 0) {
    close(t->service);
    t->service = -1;
    remove_tree(t->parent, t->name);
  }
  if (t->parent >= 0) close(t->parent);
  t->parent = -1;
}
