/*
 * --max-memory (see memory.h).
 */
#define _GNU_SOURCE
#include "memory.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "clock.h"
#include "evlog.h"
#include "graceful.h"
#include "retry.h"
#include "text.h"

/* Readings over the limit in a row, per instance, and of which generation
 * (a count never carries over to the next one); the next reading. */
static uint8_t over[ND_INSTANCES_MAX];
static pid_t of_pid[ND_INSTANCES_MAX];
static int64_t due;
static uint64_t page_bytes;

void memory_init(struct service *s) {
  if (s->cfg->max_memory_bytes == 0) return;
  long p = sysconf(_SC_PAGESIZE);
  page_bytes = p > 0 ? (uint64_t)p : 4096;
  due = clock_mono_ms() + MEMORY_PERIOD_MS;
}

int64_t memory_deadline(const struct service *s) {
  return s->cfg->max_memory_bytes != 0 && s->phase == PHASE_RUNNING ? due : 0;
}

/* pid's resident set in bytes (statm's second field, in pages); 0 when it
 * cannot be read (it died meanwhile: its death comes as an event). */
static uint64_t rss_of(pid_t pid) {
  char path[40], buf[128];
  text_number_path(path, sizeof path, "/proc/", pid, "/statm");
  int fd = RETRY(open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd < 0) return 0;
  ssize_t n = RETRY(read(fd, buf, sizeof buf - 1));
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char *p = buf;
  while (*p >= '0' && *p <= '9') p++; /* size */
  if (*p != ' ') return 0;
  p++;
  uint64_t pages = 0;
  while (*p >= '0' && *p <= '9') pages = pages * 10 + (uint64_t)(*p++ - '0');
  return pages * page_bytes;
}

/* Instance i (generation g) stays over the limit: replaced. */
static void replace(struct service *s, struct generation *g, uint64_t rss) {
  int graceful = s->cfg->want_ready && s->cfg->plan->h.nsockets > 0;
  uint32_t i = g->instance;
  int err = 0;
  evlog_begin(40, "max-memory");
  if (s->cfg->instances > 1) evlog_int("instance", i);
  evlog_int("daemonPid", g->pid);
  evlog_int("rss", (int64_t)rss);
  evlog_int("limit", (int64_t)s->cfg->max_memory_bytes);
  evlog_str("replace", graceful ? "graceful" : "term");
  evlog_end(graceful ? "over --max-memory at two readings: a new generation starts beside it and takes over once ready"
                     : "over --max-memory at two readings: SIGTERM, then a restart without backoff");
  s->respawn[i].memory_restarts++;
  if (graceful) {
    err = graceful_replace(s, i);
    if (err == 0) return;
    evlog_begin(50, "max-memory-failed");
    if (s->cfg->instances > 1) evlog_int("instance", i);
    evlog_int("errno", err);
    evlog_end("max-memory: cannot fork a new generation: SIGTERM instead");
  }
  g->memory_kill = 1;
  g->due[GEN_T_KILL] = clock_mono_ms() + s->cfg->stop_timeout_ms;
  kill(g->pid, SIGTERM); /* our unreaped child */
  service_write(s);
}

void memory_check(struct service *s) {
  int64_t now = clock_mono_ms();
  if (memory_deadline(s) == 0 || now < due) return;
  due = now + MEMORY_PERIOD_MS;
  /* A graceful restart, a roll or another replacement is under way: the
   * readings go on, the replacement waits for its end. */
  int busy = s->graceful.open || gen_find(s->gens, GEN_NEXT) != NULL;
  for (uint32_t i = 0; i < s->cfg->instances; i++) {
    struct generation *g = gen_instance(s->gens, i);
    if (g == NULL || g->role != GEN_CURRENT || g->pid <= 0 || g->exited || g->rep_r >= 0 || g->memory_kill) {
      over[i] = 0;
      continue;
    }
    if (of_pid[i] != g->pid) {
      of_pid[i] = g->pid;
      over[i] = 0;
    }
    uint64_t rss = rss_of(g->pid);
    if (rss <= s->cfg->max_memory_bytes) {
      over[i] = 0;
      continue;
    }
    if (over[i] < 2) over[i]++;
    if (over[i] < 2 || busy) continue;
    over[i] = 0;
    replace(s, g, rss);
    busy = s->graceful.open || gen_find(s->gens, GEN_NEXT) != NULL;
  }
}
