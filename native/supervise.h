/*
 * The supervisor (--respawn): forked by the helper inside the new session,
 * it is the parent of every generation of the daemon (docs/supervision.md).
 *
 * It is entered with the helper's fd layout (protocol.h) still in place:
 * 0,1,2 /dev/null, 3 the plan, 4 the caller's status pipe, 5 the log,
 * 6 the locked lock file, 7 /dev/null (the pid file's slot: the helper
 * writes it), 8 the state file. Slots 0..8 stay occupied for its whole life
 * (a slot it is done with is pointed at /dev/null), so that no pipe it
 * makes later can land on a number the daemon checklist moves fds onto.
 *
 * `run` (pid1.h) enters it in the process the CLI exec'd, with the layout of
 * ND_PLAN_RUN (protocol.h): the caller's stdio, and its session.
 */
#ifndef NODE_DAEMONIZE_SUPERVISE_H
#define NODE_DAEMONIZE_SUPERVISE_H

#include <stdint.h>
#include <sys/types.h>

#include "plan.h"
#include "supervise_policy.h"

struct nd_supervise_config {
  struct nd_policy policy;
  uint32_t min_uptime_ms;   /* without readiness: up this long = a good start */
  uint32_t stop_timeout_ms; /* TERM to KILL, on stop */
  uint32_t window_ms;       /* the start-up window (the first generation's; later ones' readiness wait) */
  int want_ready;           /* generations get a ready pipe on fd 4 */
  int keep_on_timeout;      /* a generation not ready in time is left running */
  uint32_t instances;       /* generations serving side by side (--instances), 1..ND_INSTANCES_MAX */
  uint64_t max_memory_bytes; /* --max-memory: an instance's RSS limit (0: none; memory.h) */
  int set_ids;              /* generations run as uid/gid: the log is reopened as them */
  uid_t uid;
  gid_t gid;
  const char *log_path; /* NULL: no log file (stdout/stderr are /dev/null) */
  pid_t sid;            /* the session the helper leads */
  int fault_no_subreaper; /* tests: act as if PR_SET_CHILD_SUBREAPER failed */
  int fault_no_cgroup;    /* tests: act as if no cgroup could be made (the /proc attribution) */
  const struct plan *plan; /* every generation runs daemon_become on it */
  /* `run` (pid1.h): the supervisor was exec'd in place of its caller and
   * shares its session; never a kill by session. */
  struct {
    int on;
    int once;          /* no --respawn: the app's end is the run's end */
    int forward_usr1;  /* --forward-signal USR1 */
    int graceful;      /* USR2 is a graceful restart (--respawn --listen --wait-ready), else passed on */
    int tty;           /* stdin is our terminal and we were its foreground: the app's group gets it */
    int log_file;      /* --log-file: HUP reopens it */
    const char *cgroup_label; /* names its cgroup (there is no pid file) */
  } run;
};

/* Runs the supervisor; returns its exit status (it never returns while a
 * generation of its own runs). */
int nd_supervise(const struct nd_supervise_config *cfg);

#endif
