/*
 * Reading the plan (protocol.h) and deriving the daemon's fd layout from
 * it. Runs in the helper before fork: allocation is fine here.
 */
#define _GNU_SOURCE
#include "plan.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "retry.h"

static int read_all(int fd, char *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = RETRY(pread(fd, buf + off, len - off, (off_t)off));
    if (n < 0) return errno;
    if (n == 0) return EIO;
    off += (size_t)n;
  }
  return 0;
}

/* Split count NUL-terminated strings starting at *p (bounded by end). */
static int take_strings(char **p, char *end, char **out, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) {
    char *nul = memchr(*p, '\0', (size_t)(end - *p));
    if (nul == NULL) return -1;
    out[i] = *p;
    *p = nul + 1;
  }
  return 0;
}

static int valid_id(int64_t id) { return id >= 0 && id <= (int64_t)UINT32_MAX - 1; }

/* With sockets, the last envp string must be the LISTEN_PID slot, with
 * room for any pid: each daemon writes its own there (protocol.h). */
static int plan_find_listen_pid(struct plan *pl) {
  pl->listen_pid = NULL;
  if (pl->h.nsockets == 0) return 0;
  if (pl->h.nsockets > ND_PLAN_SOCKETS_MAX || pl->h.envc == 0) return ND_EPLAN;
  char *slot = pl->envp[pl->h.envc - 1];
  size_t prefix = sizeof ND_LISTEN_PID_PREFIX - 1;
  if (strncmp(slot, ND_LISTEN_PID_PREFIX, prefix) != 0 || strlen(slot) != prefix + ND_LISTEN_PID_DIGITS)
    return ND_EPLAN;
  pl->listen_pid = slot + prefix;
  return 0;
}

/* With instances, one envp string is the instance slot (protocol.h). */
static int plan_find_instance(struct plan *pl) {
  pl->instance_slot = NULL;
  if (!(pl->h.flags & ND_PLAN_RESPAWN) || pl->respawn.instances == 0) return 0;
  if (pl->respawn.instances > ND_INSTANCES_MAX) return ND_EPLAN;
  size_t prefix = sizeof ND_INSTANCE_PREFIX - 1;
  for (uint32_t i = 0; i < pl->h.envc; i++) {
    char *slot = pl->envp[i];
    if (strncmp(slot, ND_INSTANCE_PREFIX, prefix) == 0 && strlen(slot) == prefix + ND_INSTANCE_DIGITS) {
      pl->instance_slot = slot + prefix;
      return 0;
    }
  }
  return ND_EPLAN;
}

int plan_load(struct plan *pl) {
  struct stat st;
  if (RETRY(fstat(ND_HELPER_FD_PLAN, &st)) < 0) return errno;
  if (st.st_size < (off_t)sizeof pl->h) return ND_EPLAN;
  char *buf = malloc((size_t)st.st_size);
  if (buf == NULL) return ENOMEM;
  int err = read_all(ND_HELPER_FD_PLAN, buf, (size_t)st.st_size);
  if (err) return err;

  memcpy(&pl->h, buf, sizeof pl->h);
  const struct nd_plan_header *h = &pl->h;
  if (h->magic != ND_PLAN_MAGIC || h->version != ND_PLAN_VERSION) return ND_EPLAN;
  if (h->argc < 1 || h->ngroups > NGROUPS_MAX) return ND_EPLAN;
  /* By subtraction: a sum with strings_len near 2^64 would wrap. */
  uint64_t size = (uint64_t)st.st_size;
  uint64_t groups_len = (uint64_t)h->ngroups * sizeof(int64_t);
  uint64_t respawn_len = (h->flags & ND_PLAN_RESPAWN) ? sizeof pl->respawn : 0;
  uint64_t rest = size - sizeof *h; /* size >= sizeof *h, checked above */
  if (groups_len > rest) return ND_EPLAN;
  rest -= groups_len;
  if (respawn_len > rest) return ND_EPLAN;
  rest -= respawn_len;
  if (h->strings_len != rest) return ND_EPLAN;
  /* Each string takes at least its NUL. */
  if ((uint64_t)h->argc + h->envc + h->nchecks + 2 > h->strings_len) return ND_EPLAN;
  /* An id must fit uid_t/gid_t and not be (uid_t)-1, "no change". */
  if ((h->flags & ND_PLAN_SET_IDS) && (!valid_id(h->uid) || !valid_id(h->gid))) return ND_EPLAN;

  pl->groups = calloc(h->ngroups + 1, sizeof(gid_t));
  pl->checks = calloc((size_t)h->nchecks + 1, sizeof(char *));
  pl->argv = calloc((size_t)h->argc + 1, sizeof(char *));
  pl->envp = calloc((size_t)h->envc + 1, sizeof(char *));
  if (!pl->groups || !pl->checks || !pl->argv || !pl->envp) return ENOMEM;
  for (uint32_t i = 0; i < h->ngroups; i++) {
    int64_t g;
    memcpy(&g, buf + sizeof *h + i * sizeof g, sizeof g);
    if (!valid_id(g)) return ND_EPLAN;
    pl->groups[i] = (gid_t)g;
  }

  if (respawn_len) memcpy(&pl->respawn, buf + sizeof *h + groups_len, respawn_len);
  char *p = buf + sizeof *h + groups_len + respawn_len;
  char *end = buf + st.st_size;
  char *fixed[2];
  if (take_strings(&p, end, fixed, 2) < 0) return ND_EPLAN;
  if (take_strings(&p, end, pl->checks, h->nchecks) < 0) return ND_EPLAN;
  if (take_strings(&p, end, pl->argv, h->argc) < 0) return ND_EPLAN;
  if (take_strings(&p, end, pl->envp, h->envc) < 0) return ND_EPLAN;
  char *run[2] = {"", ""};
  if ((h->flags & ND_PLAN_RUN) && take_strings(&p, end, run, 2) < 0) return ND_EPLAN;
  if ((h->flags & ND_PLAN_RUN) && !(h->flags & ND_PLAN_RESPAWN)) return ND_EPLAN;
  pl->ready_name = run[0];
  pl->notify_socket = run[1];
  if (p != end) return ND_EPLAN;
  pl->cwd = fixed[0];
  pl->exec_path = fixed[1];
  if (pl->cwd[0] == '\0' || pl->exec_path[0] == '\0') return ND_EPLAN;
  err = plan_find_listen_pid(pl);
  return err ? err : plan_find_instance(pl);
}

int plan_check_sockets(const struct plan *pl) {
  for (uint32_t i = 0; i < pl->h.nsockets; i++) {
    int fd = ND_HELPER_FD_SOCKETS + (int)i;
    struct stat st;
    if (RETRY(fstat(fd, &st)) < 0) return errno;
    if (!S_ISSOCK(st.st_mode)) return ENOTSOCK;
    /* posix_spawn's dup2 cleared the flag: they reach the daemon only
     * through its moves, never through another exec. */
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return errno;
  }
  return 0;
}

size_t plan_daemon_fd_moves(const struct plan *pl, int ready_w, struct nd_fd_move *out) {
  const int nsockets = (int)pl->h.nsockets; /* at most ND_PLAN_SOCKETS_MAX (plan_load) */
  size_t n = 0;
  /* `run`: stdin is the caller's, and so are stdout and stderr unless
   * there is a --log-file (the container's log driver reads them). */
  int run = (pl->h.flags & ND_PLAN_RUN) != 0;
  int log = !run || (pl->h.flags & ND_PLAN_RUN_LOG_FILE);
  out[n++] = (struct nd_fd_move){run ? 0 : ND_HELPER_FD_NULL, 0};
  out[n++] = (struct nd_fd_move){log ? ND_HELPER_FD_LOG : 1, 1};
  out[n++] = (struct nd_fd_move){log ? ND_HELPER_FD_LOG : 2, 2};
  for (int i = 0; i < nsockets; i++)
    out[n++] = (struct nd_fd_move){ND_HELPER_FD_SOCKETS + i, ND_DAEMON_FD_BASE + i};
  /* Empty slots are closed: the lock's slot may hold the plan memfd, the
   * ready slot the status pipe (which the daemon has closed already). */
  int lock = (pl->h.flags & ND_PLAN_HAS_LOCK) ? ND_HELPER_FD_LOCK : ND_FD_CLOSE;
  out[n++] = (struct nd_fd_move){lock, ND_DAEMON_FD_LOCK_AFTER(nsockets)};
  out[n++] = (struct nd_fd_move){ready_w >= 0 ? ready_w : ND_FD_CLOSE, ND_DAEMON_FD_READY_AFTER(nsockets)};
  return n;
}
