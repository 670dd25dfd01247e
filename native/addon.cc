// The syscalls Node lacks, as a small addon. Everything here is a thin,
// synchronous wrapper except FdWatcher, which puts an fd into the event loop
// (uv_poll) so that long waits never hold a thread-pool thread.
//
// Errors are thrown like Node's own SystemError: code ("ENOENT"), errno
// (negative, as libuv reports it), syscall, and path where there is one.

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <napi.h>
#include <uv.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

extern "C" {
#include "protocol.h"
}

namespace {

template <typename F>
auto Retry(F f) -> decltype(f()) {
  decltype(f()) r;
  do r = f();
  while (r == -1 && errno == EINTR);
  return r;
}

Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& path = "") {
  const char* code = uv_err_name(-err);
  std::string msg = std::string(code) + ": " + uv_strerror(-err) + ", " + syscall;
  if (!path.empty()) msg += " '" + path + "'";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) e.Set("path", Napi::String::New(env, path));
  return e;
}

Napi::Error UsageError(Napi::Env env, const char* what) {
  Napi::Error e = Napi::TypeError::New(env, what);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  return e;
}

// Argument checks, before any work (a wrong call is a TypeError, not a crash).
int32_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  if (info.Length() <= i || !info[i].IsNumber()) throw UsageError(info.Env(), usage);
  return info[i].As<Napi::Number>().Int32Value();
}

// Duplicate fd to a number >= min, close-on-exec.
int DupAbove(int fd, int min) { return fcntl(fd, F_DUPFD_CLOEXEC, min); }

// --------------------------------------------------------------- sessions

// State letter and session id from /proc/<pid>/stat; false if it is gone.
// comm may hold spaces and parentheses: parse after the last ')'.
bool ProcSession(pid_t pid, char* state, pid_t* session) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  int fd = Retry([&] { return open(path, O_RDONLY | O_CLOEXEC); });
  if (fd < 0) return false;
  char buf[512];
  ssize_t n = Retry([&] { return read(fd, buf, sizeof buf - 1); });
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* paren = strrchr(buf, ')');
  int ppid, pgrp, sid;
  char st;
  if (paren == nullptr || sscanf(paren + 1, " %c %d %d %d", &st, &ppid, &pgrp, &sid) != 4) return false;
  *state = st;
  *session = sid;
  return true;
}

int64_t MonotonicMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

struct SessionKill {
  int killed = 0;  // signals sent
  int left = 0;    // processes still alive when the time ran out
};

// SIGKILL every live process of session sid except its leader, each through
// a pidfd and only after getsid() confirms it again, and scan until none is
// left (a zombie counts as gone: pid 1 may reap it late) or timeout_ms ran
// out. Sound only while the number sid cannot name another session: the
// caller holds the leader (the helper) unreaped, or the members hold it
// (a session id is not reused while any process is in that session).
SessionKill KillSession(pid_t sid, int timeout_ms) {
  SessionKill out;
  int64_t deadline = MonotonicMs() + timeout_ms;
  for (;;) {
    int live = 0;
    DIR* dir = opendir("/proc");  // glibc opens it O_CLOEXEC
    if (dir == nullptr) return out;
    while (struct dirent* de = readdir(dir)) {
      char* end;
      long pid = strtol(de->d_name, &end, 10);
      if (*end != '\0' || pid <= 0 || pid == sid) continue;
      char state;
      pid_t session;
      if (!ProcSession(static_cast<pid_t>(pid), &state, &session) || session != sid) continue;
      if (state == 'Z' || state == 'X') continue;
      live++;
      int pidfd = static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
      if (pidfd < 0) continue;  // exited meanwhile
      if (getsid(static_cast<pid_t>(pid)) == sid && syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) == 0)
        out.killed++;
      close(pidfd);
    }
    closedir(dir);
    out.left = live;
    if (live == 0 || MonotonicMs() >= deadline) return out;
    struct timespec pause = {0, 5 * 1000 * 1000};  // SIGKILL takes effect at once; give it a moment
    while (nanosleep(&pause, &pause) < 0 && errno == EINTR) {
    }
  }
}

// killSession(sid, timeoutMs = 2000) -> { killed, left }
Napi::Value KillSessionJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t sid = IntArg(info, 0, "killSession(sid: number, timeoutMs?: number)");
  int timeout_ms = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 2000;
  if (sid <= 1) throw UsageError(env, "killSession(sid: number, timeoutMs?: number): sid must be > 1");
  SessionKill r = KillSession(sid, timeout_ms);
  Napi::Object out = Napi::Object::New(env);
  out.Set("killed", Napi::Number::New(env, r.killed));
  out.Set("left", Napi::Number::New(env, r.left));
  return out;
}

// --------------------------------------------------------- launches in flight
// A launch is in flight from spawnHelper until waitPid reaps its helper. If
// the environment ends meanwhile (a Worker terminated while daemonize()
// awaited the helper), no JS will ever finish it: the cleanup hook kills
// the helper and its session, reaps the helper, closes the status pipe, the
// log fd, the pid file and the locked lock file, and removes both files.
// Each fd is closed only if it still is the file it was (same device and
// inode): JS may have closed it already, and its number been reused.

struct TrackedFd {
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
};

TrackedFd Track(int fd) {
  TrackedFd t;
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) == 0) {
    t.fd = fd;
    t.dev = st.st_dev;
    t.ino = st.st_ino;
  }
  return t;
}

bool StillSame(const TrackedFd& t) {
  struct stat st;
  return t.fd >= 0 && fstat(t.fd, &st) == 0 && st.st_dev == t.dev && st.st_ino == t.ino;
}

struct InFlight {
  pid_t helper;
  TrackedFd status, log, lock, pid;  // lock: the lock file; pid: the pid file
  std::string lock_path, pid_path;
};

struct AddonData {
  Napi::FunctionReference fd_watcher;
  std::vector<InFlight> launches;
};

void AbortLaunch(const InFlight& l) {
  kill(l.helper, SIGKILL);  // our unreaped child: the pid is still the helper's
  KillSession(l.helper, 2000);
  int status;
  Retry([&] { return waitpid(l.helper, &status, 0); });
  if (StillSame(l.status)) close(l.status.fd);
  if (StillSame(l.log)) close(l.log.fd);
  if (StillSame(l.lock)) {
    // Unlink while holding the lock (the daemon, its other holder, is dead),
    // and only the files these fds are: the paths may name others by now.
    // The pid file first, then the lock file, as a stop does.
    auto unlinkIfSame = [](const std::string& path, const TrackedFd& t) {
      struct stat st;
      if (!path.empty() && t.ino != 0 && lstat(path.c_str(), &st) == 0 && st.st_dev == t.dev && st.st_ino == t.ino)
        unlink(path.c_str());
    };
    unlinkIfSame(l.pid_path, l.pid);
    unlinkIfSame(l.lock_path, l.lock);
    if (StillSame(l.pid)) close(l.pid.fd);
    close(l.lock.fd);
  }
}

void OnEnvCleanup(void* arg) {
  AddonData* data = static_cast<AddonData*>(arg);
  for (const InFlight& l : data->launches) AbortLaunch(l);
  data->launches.clear();
}

// ------------------------------------------------------------------ spawn

// spawnHelper(helperPath, plan: Buffer, logFd, lockFd | -1, pidFd | -1, lockPath?, pidPath?)
//   -> { pid, statusFd }
// lockFd (the locked lock file) becomes the daemon's fd 3; pidFd (the pid
// file) is the helper's alone. The launch is in flight until waitPid(pid)
// (see OnEnvCleanup); the paths let the cleanup hook remove the files.
Napi::Value SpawnHelper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto optionalString = [&](size_t i) { return info.Length() <= i || info[i].IsString() || info[i].IsUndefined(); };
  if (info.Length() < 5 || !info[0].IsString() || !info[1].IsBuffer() || !info[2].IsNumber() ||
      !info[3].IsNumber() || !info[4].IsNumber() || !optionalString(5) || !optionalString(6))
    throw UsageError(env,
                     "spawnHelper(helperPath: string, plan: Buffer, logFd: number, lockFd: number, pidFd: number, "
                     "lockPath?: string, pidPath?: string)");
  auto stringArg = [&](size_t i) {
    return info.Length() > i && info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : std::string();
  };
  std::string lock_path = stringArg(5);
  std::string pid_path = stringArg(6);
  std::string helper = info[0].As<Napi::String>();
  Napi::Buffer<char> plan = info[1].As<Napi::Buffer<char>>();
  int log_fd = info[2].As<Napi::Number>().Int32Value();
  int lock_fd = info[3].As<Napi::Number>().Int32Value();
  int pid_fd = info[4].As<Napi::Number>().Int32Value();

  // Every source fd is moved to >= 8 first: the targets are 0..7, so no
  // dup2 in the file actions can overwrite a source it has yet to copy.
  const int first = ND_HELPER_FD_FIRST_FREE;
  int fds[6] = {-1, -1, -1, -1, -1, -1};  // null, plan, status write, log, lock, pid file
  int status_r = -1;
  auto cleanup = [&]() {
    for (int fd : fds)
      if (fd >= 0) close(fd);
  };
  auto fail = [&](int err, const char* syscall, const std::string& path = "") {
    cleanup();
    if (status_r >= 0) close(status_r);
    return SystemError(env, err, syscall, path);
  };

  int null_fd = Retry([] { return open("/dev/null", O_RDWR | O_CLOEXEC); });
  if (null_fd < 0) throw fail(errno, "open", "/dev/null");
  fds[0] = DupAbove(null_fd, first);
  close(null_fd);
  if (fds[0] < 0) throw fail(errno, "fcntl");

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
  // NOEXEC_SEAL: kernels with vm.memfd_noexec=2 refuse an executable memfd.
  // Older kernels do not know the flag (EINVAL): then without it.
  int plan_fd = memfd_create("node-daemonize-plan", MFD_CLOEXEC | MFD_NOEXEC_SEAL);
  if (plan_fd < 0 && errno == EINVAL) plan_fd = memfd_create("node-daemonize-plan", MFD_CLOEXEC);
  if (plan_fd < 0) throw fail(errno, "memfd_create");
  fds[1] = DupAbove(plan_fd, first);
  close(plan_fd);
  if (fds[1] < 0) throw fail(errno, "fcntl");
  for (size_t off = 0; off < plan.Length();) {
    ssize_t n = Retry([&] { return write(fds[1], plan.Data() + off, plan.Length() - off); });
    if (n < 0) throw fail(errno, "write");
    off += static_cast<size_t>(n);
  }

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) throw fail(errno, "pipe2");
  status_r = pipefd[0];
  fds[2] = DupAbove(pipefd[1], first);
  close(pipefd[1]);
  if (fds[2] < 0) throw fail(errno, "fcntl");
  fds[3] = DupAbove(log_fd, first);
  if (fds[3] < 0) throw fail(errno, "fcntl");
  if (lock_fd >= 0) {
    fds[4] = DupAbove(lock_fd, first);
    if (fds[4] < 0) throw fail(errno, "fcntl");
  }
  if (pid_fd >= 0) {
    fds[5] = DupAbove(pid_fd, first);
    if (fds[5] < 0) throw fail(errno, "fcntl");
  }

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
  posix_spawn_file_actions_adddup2(&fa, fds[0], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[0], 2);
  posix_spawn_file_actions_adddup2(&fa, fds[1], ND_HELPER_FD_PLAN);
  posix_spawn_file_actions_adddup2(&fa, fds[2], ND_HELPER_FD_STATUS);
  posix_spawn_file_actions_adddup2(&fa, fds[3], ND_HELPER_FD_LOG);
  if (fds[4] >= 0) posix_spawn_file_actions_adddup2(&fa, fds[4], ND_HELPER_FD_LOCK);
  else posix_spawn_file_actions_addclose(&fa, ND_HELPER_FD_LOCK);  // a caller's stray fd 6
  if (fds[5] >= 0) posix_spawn_file_actions_adddup2(&fa, fds[5], ND_HELPER_FD_PIDFILE);
  else posix_spawn_file_actions_addclose(&fa, ND_HELPER_FD_PIDFILE);  // a caller's stray fd 7
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Fds the caller left without close-on-exec never reach the helper.
  posix_spawn_file_actions_addclosefrom_np(&fa, first);
#endif

  // The helper starts clean whatever the caller did to its signals: every
  // disposition default (real-time ones too, but not glibc's reserved 32
  // and 33) and an empty mask.
  sigset_t def, none;
  sigemptyset(&def);
  sigemptyset(&none);
  for (int sig = 1; sig <= 64; sig++)
    if (sig != SIGKILL && sig != SIGSTOP && sig != 32 && sig != 33) sigaddset(&def, sig);
  posix_spawnattr_setsigdefault(&attr, &def);
  posix_spawnattr_setsigmask(&attr, &none);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
#ifdef POSIX_SPAWN_USEVFORK
  flags |= POSIX_SPAWN_USEVFORK;
#endif
  posix_spawnattr_setflags(&attr, flags);

  // An empty environment: nothing meant for the daemon (LD_PRELOAD, ...)
  // ever loads into the helper, which may run as root.
  char name[] = "node-daemonize-helper";
  char* argv[] = {name, nullptr};
  char* envp[] = {nullptr};
  pid_t pid;
  int err = posix_spawn(&pid, helper.c_str(), &fa, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (err != 0) throw fail(err, "posix_spawn", helper);
  cleanup();
  env.GetInstanceData<AddonData>()->launches.push_back(
      InFlight{pid, Track(status_r), Track(log_fd), Track(lock_fd), Track(pid_fd), lock_path, pid_path});

  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("statusFd", Napi::Number::New(env, status_r));
  return out;
}

// waitPid(pid) -> raw wait status. Blocking: only for a child known to be
// exiting (the helper, once its status pipe reached EOF).
Napi::Value WaitPid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = IntArg(info, 0, "waitPid(pid: number)");
  int status = 0;
  if (Retry([&] { return waitpid(pid, &status, 0); }) < 0) throw SystemError(env, errno, "waitpid");
  // Reaped: the launch is the caller's to finish now, not the cleanup hook's.
  auto& launches = env.GetInstanceData<AddonData>()->launches;
  for (auto it = launches.begin(); it != launches.end(); ++it) {
    if (it->helper == pid) {
      launches.erase(it);
      break;
    }
  }
  return Napi::Number::New(env, status);
}

// decodeWaitStatus(status) -> { code, signal }
Napi::Value DecodeWaitStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int status = IntArg(info, 0, "decodeWaitStatus(status: number)");
  Napi::Object out = Napi::Object::New(env);
  out.Set("code", WIFEXITED(status) ? Napi::Value(Napi::Number::New(env, WEXITSTATUS(status))) : env.Null());
  out.Set("signal", WIFSIGNALED(status) ? Napi::Value(Napi::Number::New(env, WTERMSIG(status))) : env.Null());
  return out;
}

Napi::Array Stages(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
#define ND_STAGE_ENTRY(name, id, syscall)                          \
  {                                                                \
    Napi::Object s = Napi::Object::New(env);                       \
    s.Set("id", Napi::Number::New(env, id));                       \
    s.Set("name", Napi::String::New(env, #name));                  \
    s.Set("syscall", Napi::String::New(env, syscall));             \
    out.Set(i++, s);                                               \
  }
  ND_STAGES(ND_STAGE_ENTRY)
#undef ND_STAGE_ENTRY
  return out;
}

Napi::Array Syscalls(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
#define ND_SYSCALL_ENTRY(name, id)                     \
  {                                                    \
    Napi::Object s = Napi::Object::New(env);           \
    s.Set("id", Napi::Number::New(env, id));           \
    s.Set("name", Napi::String::New(env, #name));      \
    out.Set(i++, s);                                   \
  }
  ND_SYSCALLS(ND_SYSCALL_ENTRY)
#undef ND_SYSCALL_ENTRY
  return out;
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
#define C(n) o.Set(#n, Napi::Number::New(env, n))
  C(ND_PLAN_MAGIC);
  C(ND_PLAN_VERSION);
  C(ND_PLAN_HAS_LOCK);
  C(ND_PLAN_WANT_READY);
  C(ND_PLAN_KEEP_ON_TIMEOUT);
  C(ND_PLAN_SET_IDS);
  C(ND_PLAN_SET_NOFILE);
  C(ND_PLAN_SET_CORE);
  C(ND_PLAN_DRY_RUN);
  C(ND_PLAN_FAULT_STOP_AFTER_FORK);
  C(ND_PLAN_HAS_PIDFILE);
  C(ND_EVERIFY);
  C(ND_EEXITED);
  C(ND_ETIMEOUT);
  C(ND_EPLAN);
  C(ND_EHELPER);
  C(ND_DAEMON_FD_LOCK);
  C(ND_DAEMON_FD_READY);
#undef C
  o.Set("PLAN_HEADER_SIZE", Napi::Number::New(env, sizeof(struct nd_plan_header)));
  o.Set("RECORD_SIZE", Napi::Number::New(env, sizeof(struct nd_record)));
  return o;
}

// ---------------------------------------------------------------- session

Napi::Value GetSid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  pid_t sid = getsid(pid);
  if (sid < 0) throw SystemError(env, errno, "getsid");
  return Napi::Number::New(env, sid);
}

Napi::Value GetPgid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  pid_t pgid = getpgid(pid);
  if (pgid < 0) throw SystemError(env, errno, "getpgid");
  return Napi::Number::New(env, pgid);
}

// ------------------------------------------------------------------ locks
// Open-file-description locks: owned by the open file, not the process, so
// the lock the caller takes is the lock the daemon inherits and holds; and
// F_OFD_GETLK can test a lock without taking it.

struct flock WholeFile(short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  return fl;
}

// lockFile(fd) -> true if locked, false if another open file holds it.
Napi::Value LockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0, "lockFile(fd: number)");
  struct flock fl = WholeFile(F_WRLCK);
  if (Retry([&] { return fcntl(fd, F_OFD_SETLK, &fl); }) == 0) return Napi::Boolean::New(env, true);
  if (errno == EAGAIN || errno == EACCES) return Napi::Boolean::New(env, false);
  throw SystemError(env, errno, "fcntl");
}

// isLocked(fd) -> true if some other open file holds a WRITE lock on it.
// Only a write lock can be a daemon's: anyone who can open a file read-only
// can take a read lock on it, and that must never read as "running".
// (F_OFD_GETLK works on an O_RDONLY fd.)
Napi::Value IsLocked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0, "isLocked(fd: number)");
  struct flock fl = WholeFile(F_WRLCK);
  if (Retry([&] { return fcntl(fd, F_OFD_GETLK, &fl); }) < 0) throw SystemError(env, errno, "fcntl");
  return Napi::Boolean::New(env, fl.l_type == F_WRLCK);
}

// ------------------------------------------------------------------ pidfd

Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = IntArg(info, 0, "pidfdOpen(pid: number)");
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) throw SystemError(env, errno, "pidfd_open");
  // pidfd_open sets O_CLOEXEC on the new fd itself.
  return Napi::Number::New(env, fd);
}

Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0, "pidfdSendSignal(pidfd: number, signal: number)");
  int sig = IntArg(info, 1, "pidfdSendSignal(pidfd: number, signal: number)");
  if (syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) < 0) throw SystemError(env, errno, "pidfd_send_signal");
  return env.Undefined();
}

// -------------------------------------------------------------- FdWatcher
// new FdWatcher(fd, callback): callback() runs on the event loop each time
// fd is readable (or hung up). close() stops it. The watcher keeps itself
// alive while it is open.

class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "FdWatcher", {InstanceMethod("close", &FdWatcher::Close)});
  }

  FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsFunction())
      throw UsageError(env, "new FdWatcher(fd: number, callback: () => void)");
    uv_loop_t* loop;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) throw Napi::Error::New(env, "no event loop");
    int fd = info[0].As<Napi::Number>().Int32Value();
    poll_ = new uv_poll_t;
    int r = uv_poll_init(loop, poll_, fd);
    if (r < 0) {
      delete poll_;
      poll_ = nullptr;
      throw SystemError(env, -r, "uv_poll_init");
    }
    poll_->data = this;
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    r = uv_poll_start(poll_, UV_READABLE | UV_DISCONNECT, OnReady);
    if (r < 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), OnClosed);
      poll_ = nullptr;
      throw SystemError(env, -r, "uv_poll_start");
    }
    // An environment that ends (a Worker terminated) with the handle open
    // would abort in uv_loop_close: close it from a cleanup hook.
    napi_add_async_cleanup_hook(env, OnEnvCleanup, this, &hook_);
    Ref();  // stay alive until close()
  }

  ~FdWatcher() override { Stop(); }

 private:
  static void OnReady(uv_poll_t* handle, int status, int events) {
    FdWatcher* self = static_cast<FdWatcher*>(handle->data);
    if (self == nullptr) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    try {
      self->callback_.MakeCallback(self->Value(), {Napi::Number::New(env, status), Napi::Number::New(env, events)});
    } catch (const Napi::Error& e) {
      // A C++ exception must not unwind through libuv: hand the JS error to
      // Node, which reports it as an uncaught exception like any callback's.
      napi_fatal_exception(env, e.Value());
    }
  }

  static void OnClosed(uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); }

  struct HookClose {
    uv_poll_t* poll;
    napi_async_cleanup_hook_handle hook;
  };

  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg) {
    FdWatcher* self = static_cast<FdWatcher*>(arg);
    uv_poll_t* poll = self->poll_;
    self->poll_ = nullptr;
    self->hook_ = nullptr;
    if (poll == nullptr) {
      napi_remove_async_cleanup_hook(hook);
      return;
    }
    uv_poll_stop(poll);
    poll->data = new HookClose{poll, hook};
    uv_close(reinterpret_cast<uv_handle_t*>(poll), [](uv_handle_t* h) {
      HookClose* hc = static_cast<HookClose*>(h->data);
      napi_remove_async_cleanup_hook(hc->hook);
      delete hc->poll;
      delete hc;
    });
  }

  // Stops watching; returns true if it was still watching.
  bool Stop() {
    if (poll_ == nullptr) return false;
    if (hook_ != nullptr) napi_remove_async_cleanup_hook(hook_);
    hook_ = nullptr;
    uv_poll_stop(poll_);
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), OnClosed);
    poll_ = nullptr;
    return true;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (Stop()) {
      callback_.Reset();
      Unref();
    }
    return info.Env().Undefined();
  }

  uv_poll_t* poll_ = nullptr;
  napi_async_cleanup_hook_handle hook_ = nullptr;
  Napi::FunctionReference callback_;
};

// ------------------------------------------------------------ users/groups

Napi::Object UserObject(Napi::Env env, const struct passwd* pw) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", Napi::String::New(env, pw->pw_name));
  o.Set("uid", Napi::Number::New(env, pw->pw_uid));
  o.Set("gid", Napi::Number::New(env, pw->pw_gid));
  o.Set("home", Napi::String::New(env, pw->pw_dir ? pw->pw_dir : ""));
  o.Set("shell", Napi::String::New(env, pw->pw_shell ? pw->pw_shell : ""));
  return o;
}

// lookupUser(nameOrUid) -> { name, uid, gid, home, shell } | null
Napi::Value LookupUser(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !(info[0].IsNumber() || info[0].IsString()))
    throw UsageError(env, "lookupUser(nameOrUid: string | number)");
  std::vector<char> buf(16384);
  struct passwd pw, *res = nullptr;
  int err;
  if (info[0].IsNumber()) {
    uid_t uid = info[0].As<Napi::Number>().Uint32Value();
    while ((err = getpwuid_r(uid, &pw, buf.data(), buf.size(), &res)) == ERANGE) buf.resize(buf.size() * 2);
  } else {
    std::string name = info[0].As<Napi::String>();
    while ((err = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res)) == ERANGE) buf.resize(buf.size() * 2);
  }
  if (err != 0 && err != ENOENT && err != ESRCH) throw SystemError(env, err, "getpwnam_r");
  if (res == nullptr) return env.Null();
  return UserObject(env, res);
}

// lookupGroup(nameOrGid) -> { name, gid } | null
Napi::Value LookupGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !(info[0].IsNumber() || info[0].IsString()))
    throw UsageError(env, "lookupGroup(nameOrGid: string | number)");
  std::vector<char> buf(16384);
  struct group gr, *res = nullptr;
  int err;
  if (info[0].IsNumber()) {
    gid_t gid = info[0].As<Napi::Number>().Uint32Value();
    while ((err = getgrgid_r(gid, &gr, buf.data(), buf.size(), &res)) == ERANGE) buf.resize(buf.size() * 2);
  } else {
    std::string name = info[0].As<Napi::String>();
    while ((err = getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &res)) == ERANGE) buf.resize(buf.size() * 2);
  }
  if (err != 0 && err != ENOENT && err != ESRCH) throw SystemError(env, err, "getgrnam_r");
  if (res == nullptr) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", Napi::String::New(env, res->gr_name));
  o.Set("gid", Napi::Number::New(env, res->gr_gid));
  return o;
}

// groupList(userName, gid) -> number[] (the user's supplementary groups, gid included)
Napi::Value GroupList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
    throw UsageError(env, "groupList(user: string, gid: number)");
  std::string name = info[0].As<Napi::String>();
  gid_t gid = info[1].As<Napi::Number>().Uint32Value();
  int n = 64;
  std::vector<gid_t> groups(n);
  while (getgrouplist(name.c_str(), gid, groups.data(), &n) < 0) groups.resize(n);
  Napi::Array out = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) out.Set(i, Napi::Number::New(env, groups[i]));
  return out;
}

// --------------------------------------------------------------- sd_notify

// Sends one datagram, optionally with an fd attached (SCM_RIGHTS).
ssize_t SendNotify(int sock, const struct sockaddr_un& addr, socklen_t len, const std::string& msg, int pass_fd) {
  struct iovec iov;
  iov.iov_base = const_cast<char*>(msg.data());
  iov.iov_len = msg.size();
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_name = const_cast<struct sockaddr_un*>(&addr);
  mh.msg_namelen = len;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (pass_fd >= 0) {
    memset(control, 0, sizeof control);
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  return Retry([&] { return sendmsg(sock, &mh, MSG_NOSIGNAL); });
}

// sdNotify(socketPath, message, barrierMs = 0): one datagram to
// $NOTIFY_SOCKET. A leading '@' names an abstract socket. With barrierMs,
// then "BARRIER=1" with a pipe's write end, and wait (at most barrierMs)
// until the manager has closed it: it has then processed the message, so
// the sender may exit without the message being dropped as unattributable.
Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString() ||
      (info.Length() > 2 && !info[2].IsNumber() && !info[2].IsUndefined()))
    throw UsageError(env, "sdNotify(socketPath: string, message: string, barrierMs?: number)");
  int barrier_ms = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  std::string path = info[0].As<Napi::String>();
  std::string msg = info[1].As<Napi::String>();
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) throw SystemError(env, EINVAL, "connect", path);
  memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw SystemError(env, errno, "socket");
  ssize_t n = SendNotify(fd, addr, len, msg, -1);
  if (n < 0) {
    int err = errno;
    close(fd);
    throw SystemError(env, err, "sendmsg", path);
  }
  bool confirmed = false;
  if (barrier_ms > 0) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) == 0) {
      n = SendNotify(fd, addr, len, "BARRIER=1", pipefd[1]);
      close(pipefd[1]);
      if (n >= 0) {
        // The read end reports POLLHUP once every copy of the write end,
        // including the manager's, is closed.
        struct pollfd p = {pipefd[0], POLLIN, 0};
        confirmed = Retry([&] { return poll(&p, 1, barrier_ms); }) > 0 && (p.revents & POLLHUP);
      }
      close(pipefd[0]);
    }
  }
  close(fd);
  return Napi::Boolean::New(env, confirmed);
}

// -------------------------------------------------------------- log reopen

// redirectOutput(path, mode): open path for appending (creating it with
// mode) and put it onto fds 1 and 2. Used to reopen a rotated log.
Napi::Value RedirectOutput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
    throw UsageError(env, "redirectOutput(path: string, mode: number)");
  std::string path = info[0].As<Napi::String>();
  mode_t mode = info[1].As<Napi::Number>().Uint32Value();
  // O_NONBLOCK: a FIFO planted at the path must not freeze the daemon in
  // open(); the checks below then refuse it, and the flag is cleared.
  int fd = Retry([&] {
    return open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, mode);
  });
  if (fd < 0) throw SystemError(env, errno, "open", path);
  // The launcher's checks, made again on the path that replaces the log:
  // a regular file with one link.
  struct stat st;
  int check = fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : st.st_nlink != 1 ? EMLINK : 0;
  const char* failed = "fstat";
  if (check == 0 && fcntl(fd, F_SETFL, O_WRONLY | O_APPEND) < 0) {
    check = errno;
    failed = "fcntl";
  }
  if (check != 0) {
    close(fd);
    throw SystemError(env, check, failed, path);
  }
  if (fd <= 2) {
    // fd 1 or 2 was closed and open() reused it: move it above 2 first, or
    // the dup2 below would be a no-op and the close would undo it.
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int err = errno;
    close(fd);
    if (high < 0) throw SystemError(env, err, "fcntl", path);
    fd = high;
  }
  // dup2 onto 1 and 2 is atomic for each: a write racing with it goes to
  // either the old or the new file, never nowhere.
  if (Retry([&] { return dup2(fd, 1); }) < 0 || Retry([&] { return dup2(fd, 2); }) < 0) {
    int err = errno;
    close(fd);
    throw SystemError(env, err, "dup2", path);
  }
  close(fd);
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonData* data = new AddonData();
  Napi::Function watcher = FdWatcher::Init(env);
  data->fd_watcher = Napi::Persistent(watcher);
  env.SetInstanceData<AddonData>(data);
  // Runs before the instance data is freed: hooks run in reverse order of
  // registration, and napi registered its own teardown before Init.
  napi_add_env_cleanup_hook(env, OnEnvCleanup, data);

  exports.Set("spawnHelper", Napi::Function::New(env, SpawnHelper));
  exports.Set("waitPid", Napi::Function::New(env, WaitPid));
  exports.Set("killSession", Napi::Function::New(env, KillSessionJs));
  exports.Set("decodeWaitStatus", Napi::Function::New(env, DecodeWaitStatus));
  exports.Set("stages", Stages(env));
  exports.Set("constants", Constants(env));
  exports.Set("syscalls", Syscalls(env));
  exports.Set("getsid", Napi::Function::New(env, GetSid));
  exports.Set("getpgid", Napi::Function::New(env, GetPgid));
  exports.Set("lockFile", Napi::Function::New(env, LockFile));
  exports.Set("isLocked", Napi::Function::New(env, IsLocked));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal));
  exports.Set("FdWatcher", watcher);
  exports.Set("lookupUser", Napi::Function::New(env, LookupUser));
  exports.Set("lookupGroup", Napi::Function::New(env, LookupGroup));
  exports.Set("groupList", Napi::Function::New(env, GroupList));
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify));
  exports.Set("redirectOutput", Napi::Function::New(env, RedirectOutput));
  return exports;
}

}  // namespace

NODE_API_MODULE(node_daemonize, Init)
