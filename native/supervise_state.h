/*
 * The supervisor's state file, `<pidFile>.state`: one fixed-size record
 * that the supervisor rewrites in place with a single pwrite(2) at offset 0,
 * and that `status` (src/supervise-state.ts) reads, bounded, to say which
 * daemon runs now, how often it was restarted, and why it stopped.
 *
 * The file is created by the caller (0644, owned by the caller, like the pid
 * file); the supervisor keeps its descriptor, and no generation ever has one,
 * so a daemon running as --user cannot alter what status reports. Without
 * --respawn the launcher writes one record of this layout there itself
 * (ND_STATE_F_ONE_SHOT), for the same readers (src/launch-record.ts).
 *
 * A reader may race a write: seq is written at both ends of the record, and
 * a record whose two copies differ is read again. Host byte order (the
 * reader is on the same machine; every supported platform is
 * little-endian). Version 2 (192 bytes, without service_uid and the start
 * times) is what a supervisor started by an earlier release still writes;
 * version 3 (208 bytes) is version 4 without the service's cgroup;
 * version 4 (728 bytes) is version 5 without the instances; version 5
 * (1504 bytes) is version 6 without each instance's own life.
 */
#ifndef NODE_DAEMONIZE_SUPERVISE_STATE_H
#define NODE_DAEMONIZE_SUPERVISE_STATE_H

#include <stdint.h>

#define ND_STATE_MAGIC 0x5653444eu /* "NDSV" */
#define ND_STATE_VERSION 6u
#define ND_STATE_SIZE 4088
#define ND_STATE_CGROUP_DIR_MAX 512
#define ND_STATE_INSTANCES_MAX 64 /* = ND_INSTANCES_MAX (protocol.h) */

/* state */
#define ND_STATE_STARTING 1   /* the first generation's start-up window */
#define ND_STATE_RUNNING 2    /* a generation runs (daemon_pid) */
#define ND_STATE_RESTARTING 3 /* waiting restart_delay_ms, until restart_at_ms */
#define ND_STATE_STOPPING 4   /* a stop began: the daemon got TERM */
#define ND_STATE_FAILED 5     /* gave up (reason); the supervisor has exited */
#define ND_STATE_STOPPED 6    /* stopped by a signal to the supervisor; it has exited */
#define ND_STATE_EXITED 7     /* the daemon exited and the policy says not to restart; the supervisor has exited */

/* flags */
#define ND_STATE_F_NO_SUBREAPER (1u << 0) /* PR_SET_CHILD_SUBREAPER failed: orphans go to init */
#define ND_STATE_F_READY (1u << 1)        /* the current generation called ready() */
#define ND_STATE_F_GOOD_START (1u << 2)   /* the current generation counts as a good start */
#define ND_STATE_F_WANT_READY (1u << 3)   /* started with --wait-ready: a graceful restart is possible */
#define ND_STATE_F_CGROUP (1u << 4)       /* each generation runs in a cgroup of its own (else: the /proc attribution) */
#define ND_STATE_F_ONE_SHOT (1u << 5)     /* no supervisor: the launcher wrote this record once for a daemon
                                           * without --respawn (supervisor_pid 0; only daemon_pid,
                                           * daemon_start_ticks, service_uid and sid are set) */

/* last_exit_kind */
#define ND_EXIT_NONE 0
#define ND_EXIT_CODE 1
#define ND_EXIT_SIGNAL 2

/* reason (FAILED, STOPPED, EXITED) */
#define ND_REASON_NONE 0
#define ND_REASON_CRASH_LOOP 1      /* limit deaths inside window_ms */
#define ND_REASON_NO_RESPAWN_EXIT 2 /* an exit code listed in --no-respawn-exit */
#define ND_REASON_CLEAN_EXIT 3      /* exit 0 under --respawn on-failure */
#define ND_REASON_SIGNAL 4          /* stopped by stop_signal (TERM from `stop`, or anyone's) */
#define ND_REASON_START_FAILED 5    /* a generation could not be started (fork, pipe, its checklist) */
#define ND_REASON_LAUNCH_FAILED 6   /* the first generation failed its start-up window */

/* graceful_outcome: how graceful restart number graceful_done ended. */
#define ND_GRACEFUL_NONE 0
#define ND_GRACEFUL_OK 1           /* the new generation is ready and serves; the old one got TERM and drains */
#define ND_GRACEFUL_EXITED 2       /* the new generation exited before ready(); graceful_value: its wait status */
#define ND_GRACEFUL_NOT_READY 3    /* no ready() within the readiness timeout: stopped (TERM, KILL after the stop timeout); graceful_value: the timeout */
#define ND_GRACEFUL_START_FAILED 4 /* fork or the daemon checklist failed; graceful_stage, graceful_value: errno */
#define ND_GRACEFUL_STOPPED 5      /* the service was stopped meanwhile: nothing new started */
#define ND_GRACEFUL_ENDED 6        /* the running generation ended the service meanwhile (the policy's verdict) */

/* refused_why: why the last refused request (refusals, refused_pid) was refused. */
#define ND_REFUSED_IN_PROGRESS 1   /* a graceful restart is in progress */
#define ND_REFUSED_DRAINING 2      /* the generation it replaced is still draining */
#define ND_REFUSED_NOT_READY 3     /* no generation is up and ready (starting, restarting) */
#define ND_REFUSED_STOPPING 4      /* the service is being stopped */
#define ND_REFUSED_NO_WAIT_READY 5 /* started without --wait-ready: readiness cannot gate a hand-over */
#define ND_REFUSED_INSTANCES 6     /* several instances (--instances): a rolling restart is not built yet (version 5 only) */

/* instance_flags[i] (version 6) */
#define ND_INSTANCE_F_UP (1u << 0)         /* a generation of instance i runs (instance_pids[i]) */
#define ND_INSTANCE_F_READY (1u << 1)      /* it called ready() (or no readiness is asked for and it exec'd) */
#define ND_INSTANCE_F_RESTARTING (1u << 2) /* none runs: the next starts at instance_restart_at_ms[i] */
#define ND_INSTANCE_F_GAVE_UP (1u << 3)    /* none runs and none will: its policy gave up (crash loop, an exit it
                                            * must not be restarted after); the others serve on */
#define ND_INSTANCE_F_REPLACING (1u << 4)  /* a graceful replacement's new generation starts (instance_next_pids[i]) */

struct nd_state {
  uint32_t magic;
  uint32_t version;
  uint64_t seq;
  int32_t supervisor_pid;
  int32_t daemon_pid; /* 0: none right now */
  uint32_t state;
  uint32_t flags;
  uint32_t generation; /* 1 for the first */
  uint32_t restarts;   /* generations started after the first */
  uint32_t last_exit_kind;
  int32_t last_exit_value; /* exit code or signal number */
  int64_t supervisor_started_ms; /* CLOCK_REALTIME, ms since the epoch */
  int64_t daemon_started_ms;     /* the current generation's fork */
  int64_t restart_at_ms;         /* RESTARTING: when the next generation starts */
  uint32_t restart_delay_ms;
  uint32_t reason;
  uint32_t limit;     /* the policy: --respawn-limit N/WINDOW */
  uint32_t window_ms;
  uint32_t deaths_in_window; /* at the last death */
  uint32_t stop_timeout_ms;  /* the supervisor's TERM-to-KILL timeout */
  int64_t updated_ms;
  uint32_t stop_signal;
  uint32_t deaths; /* every death so far */
  int32_t sid;     /* the service's session (the helper's pid) */
  uint32_t service_uid; /* version 3: the uid every generation runs as (--user, else the supervisor's) */
  /* Graceful restarts (version 2). A request is a SIGUSR2 to the
   * supervisor; it either begins attempt graceful_seq (requested by
   * graceful_requester, the signal's sender) or is refused (refusals,
   * refused_pid, refused_why). An attempt is decided when graceful_done
   * reaches graceful_seq. */
  uint32_t graceful_seq;      /* attempts begun */
  uint32_t graceful_done;     /* attempts decided (= graceful_seq: none in progress) */
  int32_t graceful_requester; /* the sender of the request that began attempt graceful_seq */
  uint32_t graceful_outcome;  /* ND_GRACEFUL_* of attempt graceful_done */
  int32_t next_pid;           /* the new generation while it starts (0: none) */
  int32_t draining_pid;       /* the replaced generation while it drains (0: none) */
  int32_t graceful_new_pid;   /* the last attempt's new generation */
  int32_t graceful_old_pid;   /* the generation it was to replace */
  int32_t graceful_value;     /* see ND_GRACEFUL_* */
  uint32_t graceful_stage;    /* START_FAILED: the checklist's stage (protocol.h) */
  uint32_t refusals;          /* requests refused so far */
  int32_t refused_pid;        /* the sender of the last refused request */
  uint32_t refused_why;       /* ND_REFUSED_* */
  uint32_t graceful_ready_ms; /* the last attempt's new generation: fork to ready() */
  uint32_t graceful_took_ms;  /* the last attempt: request to hand-over (or to its failure) */
  uint32_t wait_ready_ms;     /* the readiness timeout a new generation gets (--wait-ready; 0: none) */
  /* Version 3: start times as /proc/<pid>/stat gives them (clock ticks
   * after boot; 0: unknown). A pid recorded here is the same process only
   * while its start time (and uid) still match: pids are reused. */
  uint64_t daemon_start_ticks;     /* the current generation's (daemon_pid's) */
  uint64_t supervisor_start_ticks; /* the supervisor's own */
  /* Version 4: the service's cgroup (ND_STATE_F_CGROUP), where every
   * generation and everything it started runs: what status and stop find
   * there after our death (SIGKILL), a process that left the session
   * included. cgroup_dir is its absolute path as we made and opened it
   * (mount point and all, NUL-terminated; "" when it would not fit), and
   * cgroup_id its inode number: a cgroup2 directory's inode is its cgroup id,
   * which a 64-bit kernel never gives to another cgroup until it reboots, so
   * a directory at that path with another inode is not ours. */
  uint64_t cgroup_id;
  char cgroup_dir[ND_STATE_CGROUP_DIR_MAX];
  /* Version 5: the instances (--instances; 1 without). instance_pids[i]:
   * instance i's current generation (0: none right now), with its start
   * time as /proc/<pid>/stat gives it (instance_start_ticks[i]), for the
   * same check as daemon_start_ticks. daemon_pid is the lowest instance's
   * that runs. */
  uint32_t instances;
  uint32_t reserved5;
  int32_t instance_pids[ND_STATE_INSTANCES_MAX];
  uint64_t instance_start_ticks[ND_STATE_INSTANCES_MAX];
  /* Version 6: each instance's own life, by index as above; daemon-wide
   * fields above still describe instance 0 (or the lowest that runs).
   * A release is the code a generation was started from: 0 the launch's,
   * k the k-th graceful restart's (graceful_seq k), so that a rolling
   * restart that stopped half-way says which instances run which. */
  uint32_t instance_flags[ND_STATE_INSTANCES_MAX];    /* ND_INSTANCE_F_* */
  uint32_t instance_restarts[ND_STATE_INSTANCES_MAX]; /* its generations started after its first */
  uint32_t instance_release[ND_STATE_INSTANCES_MAX];  /* the release its current generation runs */
  uint32_t instance_memory_restarts[ND_STATE_INSTANCES_MAX]; /* its replacements for --max-memory */
  int32_t instance_next_pids[ND_STATE_INSTANCES_MAX];     /* a graceful replacement's new generation while it starts */
  int32_t instance_draining_pids[ND_STATE_INSTANCES_MAX]; /* the generation it replaced while it drains */
  int64_t instance_started_ms[ND_STATE_INSTANCES_MAX];    /* its current generation's fork (CLOCK_REALTIME ms) */
  int64_t instance_restart_at_ms[ND_STATE_INSTANCES_MAX]; /* RESTARTING: when its next generation starts */
  uint64_t memory_limit_bytes; /* --max-memory (0: none) */
  uint32_t instances_up;       /* instances with a generation that runs */
  uint32_t instances_ready;    /* of them, ready */
  uint32_t roll_instance;      /* a rolling restart: the instance being replaced now (ND_STATE_INSTANCES_MAX: none) */
  uint32_t roll_stopped_at;    /* the last roll stopped at this instance: its new generation failed
                                * (ND_STATE_INSTANCES_MAX: it did not stop) */
  uint64_t seq_end; /* = seq */
};

#ifdef __cplusplus
static_assert(sizeof(struct nd_state) == ND_STATE_SIZE, "the state record is 4088 bytes");
#else
_Static_assert(sizeof(struct nd_state) == ND_STATE_SIZE, "the state record is 4088 bytes");
#endif

#endif
