/*
 * The wire protocol shared by the addon (caller side) and the helper.
 *
 * Plan: what the caller wants, written once into a memfd that the helper
 * reads at start-up. Status: fixed-size records the helper writes to the
 * caller, one write(2) each (16 bytes < PIPE_BUF, so a record is never torn).
 *
 * The stage table below is the single source of stage names: the addon
 * exports it to TypeScript, so the two sides cannot drift apart.
 */
#ifndef NODE_DAEMONIZE_PROTOCOL_H
#define NODE_DAEMONIZE_PROTOCOL_H

#include <stdint.h>

#define ND_PLAN_MAGIC 0x4e44504cu /* "NDPL" */
#define ND_PLAN_VERSION 6u

/* The helper's fd layout: the addon builds it as a list of moves
 * (fd_moves.h) and turns them into posix_spawn file actions. */
#define ND_HELPER_FD_NULL 0   /* 0, 1, 2: /dev/null */
#define ND_HELPER_FD_PLAN 3   /* memfd holding the plan */
#define ND_HELPER_FD_STATUS 4 /* write end of the status pipe */
#define ND_HELPER_FD_LOG 5    /* the daemon's stdout/stderr */
#define ND_HELPER_FD_LOCK 6   /* locked lock file (only with ND_PLAN_HAS_LOCK) */
#define ND_HELPER_FD_PIDFILE 7 /* the pid file, for the helper only (ND_PLAN_HAS_PIDFILE) */
#define ND_HELPER_FD_STATE 8  /* the supervisor's state file (only with ND_PLAN_RESPAWN) */
/* The listening sockets (--listen), the plan's nsockets of them, from here
 * up in the order given; the helper's first free fd follows them. */
#define ND_HELPER_FD_SOCKETS 9
#define ND_HELPER_FD_FIRST_FREE_AFTER(nsockets) (ND_HELPER_FD_SOCKETS + (nsockets))
#define ND_HELPER_FD_FIRST_FREE ND_HELPER_FD_FIRST_FREE_AFTER(0)
/* At most this many sockets in one plan (a bound on the daemon's moves). */
#define ND_PLAN_SOCKETS_MAX 128

/* The daemon's fd layout at exec: 0 /dev/null, 1 and 2 the log, then from
 * ND_DAEMON_FD_BASE up the fds it is handed, in this order: the listening
 * sockets (BASE..BASE+N-1, systemd's LISTEN_FDS layout), the lock file, the
 * ready pipe. The helper turns this into a list of moves (plan.c), so N
 * sockets only shift the last two; a slot with nothing to hold is closed. */
#define ND_DAEMON_FD_BASE 3
#define ND_DAEMON_FD_LOCK_AFTER(nsockets) (ND_DAEMON_FD_BASE + (nsockets))
#define ND_DAEMON_FD_READY_AFTER(nsockets) (ND_DAEMON_FD_LOCK_AFTER(nsockets) + 1)
#define ND_DAEMON_FD_LOCK ND_DAEMON_FD_LOCK_AFTER(0)   /* 3 */
#define ND_DAEMON_FD_READY ND_DAEMON_FD_READY_AFTER(0) /* 4 */

/* Signals 1..ND_SIGNAL_LAST are every signal there is (Linux: _NSIG - 1);
 * the daemon starts with each of them at its default, except glibc's
 * reserved pair, which glibc's sigaction() refuses and posix_spawn leaves
 * ignored, so they are reset with the raw syscall. The TypeScript side
 * reads these through the addon's constants. */
#define ND_SIGNAL_LAST 64
#define ND_SIGNAL_GLIBC_RESERVED_FIRST 32
#define ND_SIGNAL_GLIBC_RESERVED_LAST 33

/* Plan flags. */
#define ND_PLAN_HAS_LOCK (1u << 0)     /* fd 6 is the locked lock file: the daemon keeps it (ND_DAEMON_FD_LOCK) */
#define ND_PLAN_WANT_READY (1u << 1)   /* give the daemon a ready pipe (ND_DAEMON_FD_READY), wait for READY */
#define ND_PLAN_KEEP_ON_TIMEOUT (1u << 2) /* window timed out: leave the daemon running */
#define ND_PLAN_SET_IDS (1u << 3)      /* setgroups/setgid/setuid to the plan's ids */
#define ND_PLAN_SET_NOFILE (1u << 4)   /* RLIMIT_NOFILE soft = hard = nofile */
#define ND_PLAN_SET_CORE (1u << 5)     /* RLIMIT_CORE soft = hard = core */
/* Check, do not launch: the daemon side runs every step up to exec as it
 * would (limits, ids, chdir, entry checks), checks that the exec path is an
 * executable regular file for the daemon's user, reports "exec" and exits
 * instead of exec'ing; the helper reaps it. Nothing is written anywhere. */
#define ND_PLAN_DRY_RUN (1u << 6)
/* Tests only (NODE_DAEMONIZE_TEST_FAULT=helper-stop-after-fork): the helper
 * stops itself (SIGSTOP) right after fork, before it reports the daemon's
 * pid, so a test can kill it at exactly that point. */
#define ND_PLAN_FAULT_STOP_AFTER_FORK (1u << 7)
#define ND_PLAN_HAS_PIDFILE (1u << 8)  /* fd 7 is the pid file: the helper writes the daemon's pid */
/* Supervise (--respawn): the helper forks a supervisor, which forks every
 * generation of the daemon; a struct nd_respawn_plan follows the groups.
 * The pid file names the supervisor, which keeps the lock file (fd 6) and
 * the state file (fd 8); generations get neither. */
#define ND_PLAN_RESPAWN (1u << 9)
/* Tests only (NODE_DAEMONIZE_TEST_FAULT=no-subreaper): the supervisor acts
 * as if PR_SET_CHILD_SUBREAPER had failed (EINVAL, as under qemu-user). */
#define ND_PLAN_FAULT_NO_SUBREAPER (1u << 10)
/* Tests only (NODE_DAEMONIZE_TEST_FAULT=no-cgroup): the supervisor makes no
 * cgroup per generation, as where it cannot, and finds leftovers through
 * /proc. */
#define ND_PLAN_FAULT_NO_CGROUP (1u << 11)
/* `run` (foreground): the helper is exec'd in place of the caller (no
 * setsid, no fork) and is the supervisor itself, the parent of the app in
 * its caller's session: stdin and, without ND_PLAN_RUN_LOG_FILE, stdout
 * and stderr are the caller's, passed to the app untouched; slot 4 holds
 * /dev/null (no caller reads records), slot 6 the ready file's directory
 * (ND_PLAN_RUN_READY_FILE), 7 and 8 /dev/null. A struct nd_respawn_plan
 * follows the groups (ND_PLAN_RESPAWN is set too), and two more strings
 * follow envp: the ready file's name in that directory and NOTIFY_SOCKET
 * (each empty for none). docs/containers.md. */
#define ND_PLAN_RUN (1u << 12)
/* With ND_PLAN_RUN, no --respawn: the app's end is the run's end. */
#define ND_PLAN_RUN_ONCE (1u << 13)
/* With ND_PLAN_RUN: SIGUSR1 is passed on too (it opens Node's inspector). */
#define ND_PLAN_RUN_FORWARD_USR1 (1u << 14)
/* With ND_PLAN_RUN: slot 5 is a --log-file, the app's stdout and stderr. */
#define ND_PLAN_RUN_LOG_FILE (1u << 15)
/* With ND_PLAN_RUN: slot 6 is the ready file's directory. */
#define ND_PLAN_RUN_READY_FILE (1u << 16)

/*
 * Byte order: host order on both sides (the helper runs on the caller's
 * machine); the TypeScript side reads little-endian, the order of every
 * platform the package supports.
 *
 * Plan layout:
 *   struct nd_plan_header
 *   int64_t groups[ngroups]
 *   struct nd_respawn_plan (only with ND_PLAN_RESPAWN)
 *   strings, each NUL-terminated, in this order:
 *     cwd, exec path, checks[0..nchecks), argv[0..argc), envp[0..envc)
 *     (with ND_PLAN_RUN) the ready file's name, NOTIFY_SOCKET
 * checks: files the daemon must be able to read, as its own user, before
 * exec (the entry, the preload); a failure record's value is the index.
 * With nsockets > 0 the last envp string is the LISTEN_PID slot:
 * ND_LISTEN_PID_PREFIX and then ND_LISTEN_PID_DIGITS placeholder bytes,
 * which each daemon overwrites with its own pid (NUL-terminated) between
 * fork and exec: nothing is allocated there, and the pid is known only
 * after the last fork.
 */
/* With instances > 0 (struct nd_respawn_plan), one envp string is the
 * instance slot: ND_INSTANCE_PREFIX and ND_INSTANCE_DIGITS placeholder
 * bytes, which each generation overwrites with its instance's index
 * between fork and exec (the index is known only at the fork). */
#define ND_INSTANCE_PREFIX "NODE_DAEMONIZE_INSTANCE="
#define ND_INSTANCE_DIGITS 2
#define ND_INSTANCES_MAX 64 /* = ND_STATE_INSTANCES_MAX (supervise_state.h) */
#define ND_LISTEN_PID_PREFIX "LISTEN_PID="
#define ND_LISTEN_PID_DIGITS 20
struct nd_plan_header {
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t umask;
  uint32_t window_ms;  /* start-up window; 0: leave as soon as the daemon exec'd */
  uint32_t ngroups;
  int64_t uid;
  int64_t gid;
  uint64_t nofile;
  uint64_t core;
  uint32_t argc;
  uint32_t envc;
  uint64_t strings_len;
  uint32_t nchecks;
  uint32_t nsockets; /* listening sockets at ND_HELPER_FD_SOCKETS.. (at most ND_PLAN_SOCKETS_MAX) */
};

/* The supervisor's policy (native/supervise_policy.h, docs/supervision.md). */
struct nd_respawn_plan {
  uint32_t mode; /* ND_RESPAWN_ON_FAILURE 1, ND_RESPAWN_ALWAYS 2 */
  uint32_t delay_ms;
  uint32_t max_delay_ms;
  uint32_t limit;
  uint32_t window_ms;
  uint32_t min_uptime_ms;
  uint32_t stop_timeout_ms;
  uint32_t instances; /* --instances: 0 none (one generation, no NODE_DAEMONIZE_INSTANCE), else 1..ND_INSTANCES_MAX */
  uint8_t no_respawn[32]; /* bit c of byte c/8: exit code c stops for good */
  uint64_t max_memory_bytes; /* --max-memory: an instance's RSS above this for two readings is replaced (0: none) */
};

/* A status record. err: 0 ok, > 0 an errno, < 0 one of ND_E* below.
 * syscall: what failed (ND_SYSCALLS id), 0 when the stage's default. */
struct nd_record {
  uint16_t stage;
  uint16_t syscall;
  int32_t err;
  int64_t value;
};

#define ND_EVERIFY (-1)  /* a verification failed; value = what was observed */
#define ND_EEXITED (-2)  /* the daemon exited in the window; value = wait status */
#define ND_ETIMEOUT (-3) /* the window ran out; value = window in ms */
#define ND_EPLAN (-4)    /* the plan could not be parsed */
#define ND_EHELPER (-5)  /* the helper could not wait for its child */

/* X(name, id, syscall): syscall is what failed when err > 0. */
#define ND_STAGES(X)                              \
  X(plan, 1, "read")                              \
  X(setsid, 2, "setsid")                          \
  X(fork, 3, "fork")                              \
  X(session, 4, "getsid")                         \
  X(umask, 5, "umask")                            \
  X(rlimit, 6, "setrlimit")                       \
  X(setgroups, 7, "setgroups")                    \
  X(setgid, 8, "setgid")                          \
  X(setuid, 9, "setuid")                          \
  X(credentials, 10, "setuid")                    \
  X(chdir, 11, "chdir")                           \
  X(entry, 12, "open")                            \
  X(pidfile, 13, "pwrite")                        \
  X(stdio, 14, "dup2")                            \
  X(fds, 15, "close_range")                       \
  X(signals, 16, "sigaction")                     \
  X(exec, 17, "execve")                           \
  X(ready, 18, "poll")                            \
  X(running, 19, "waitpid")                       \
  X(supervise, 20, "fork")

/* X(name, id): the syscall a failure record names when it is not the
 * stage's default. */
#define ND_SYSCALLS(X) \
  X(pipe2, 1)          \
  X(fstat, 2)          \
  X(fcntl, 3)          \
  X(sigprocmask, 4)    \
  X(rt_sigaction, 5)   \
  X(getresuid, 6)      \
  X(getresgid, 7)      \
  X(getgroups, 8)      \
  X(capget, 9)         \
  X(prctl, 10)         \
  X(pidfd_open, 11)    \
  X(getpgid, 12)      \
  X(capset, 13)

enum nd_syscall {
  ND_SYS_default = 0,
#define ND_SYSCALL_ENUM(name, id) ND_SYS_##name = id,
  ND_SYSCALLS(ND_SYSCALL_ENUM)
#undef ND_SYSCALL_ENUM
};

enum nd_stage {
#define ND_STAGE_ENUM(name, id, syscall) ND_STAGE_##name = id,
  ND_STAGES(ND_STAGE_ENUM)
#undef ND_STAGE_ENUM
};

#ifdef __cplusplus
static_assert(sizeof(struct nd_record) == 16, "records are 16 bytes");
static_assert(sizeof(struct nd_plan_header) == 80, "the plan header is 80 bytes");
static_assert(sizeof(struct nd_respawn_plan) == 72, "the respawn plan is 72 bytes");
#else
_Static_assert(sizeof(struct nd_record) == 16, "records are 16 bytes");
_Static_assert(sizeof(struct nd_plan_header) == 80, "the plan header is 80 bytes");
_Static_assert(sizeof(struct nd_respawn_plan) == 72, "the respawn plan is 72 bytes");
#endif

#endif
