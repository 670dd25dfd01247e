// Starting the helper: posix_spawn with an empty environment, clean
// signals and its fds laid out from a list of moves (../fd_moves.h);
// tracking each launch until its helper is reaped, so that an environment
// that ends meanwhile (a terminated Worker) leaves nothing behind; and
// reaping, with the wait status decoded.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "compat.h"

#include "addon.h"
#include "errors.h"
#include "plan_memfd.h"
#include "session.h"

extern "C" {
#include "../fd_moves.h"
#include "../protocol.h"
}

namespace {

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
  if (fd >= 0 && nd_fstat(fd, &st) == 0) {
    t.fd = fd;
    t.dev = st.st_dev;
    t.ino = st.st_ino;
  }
  return t;
}

bool StillSame(const TrackedFd& t) {
  struct stat st;
  return t.fd >= 0 && nd_fstat(t.fd, &st) == 0 && st.st_dev == t.dev && st.st_ino == t.ino;
}

struct InFlight {
  pid_t helper;
  TrackedFd status, log, lock, pid;  // lock: the lock file; pid: the pid file
  std::string lock_path, pid_path;
  TrackedFd state;  // with --respawn: the supervisor's state file (only its identity: JS closes the fd)
  std::string state_path;
};

// One list per environment: the data of spawnHelper and waitPid.
using Launches = std::vector<InFlight>;

void AbortLaunch(const InFlight& l) {
  kill(l.helper, SIGKILL);  // our unreaped child: the pid is still the helper's
  SessionKill k = KillSession(l.helper, 2000);
  int status;
  Retry([&] { return waitpid(l.helper, &status, 0); });
  if (StillSame(l.status)) close(l.status.fd);
  if (StillSame(l.log)) close(l.log.fd);
  bool locked = StillSame(l.lock);
  // Unlink while holding the lock, and only when nothing of the session
  // outlived the kill (a survivor may be the daemon, the lock's other
  // holder): only the files these fds are, the paths may name others by
  // now. The pid file first, then the lock file, as a stop does.
  if (locked && k.left == 0) {
    auto unlinkIfSame = [](const std::string& path, const TrackedFd& t) {
      struct stat st;
      if (!path.empty() && t.ino != 0 && nd_lstat(path.c_str(), &st) == 0 && st.st_dev == t.dev && st.st_ino == t.ino)
        unlink(path.c_str());
    };
    unlinkIfSame(l.state_path, l.state);
    unlinkIfSame(l.pid_path, l.pid);
    unlinkIfSame(l.lock_path, l.lock);
  }
  // The pid file's fd whether or not JS closed the lock file's already.
  if (StillSame(l.pid)) close(l.pid.fd);
  if (locked) close(l.lock.fd);
}

// The environment is ending: no JS runs any more, so this list is done.
void OnEnvCleanup(void* arg) {
  Launches* launches = static_cast<Launches*>(arg);
  for (const InFlight& l : *launches) AbortLaunch(l);
  delete launches;
}

// ----------------------------------------------------------------- fd layout

// Adds the file actions that lay out the child's fds as moves say, by the
// rule of ../fd_moves.h: every source at or below the highest target is
// first copied above it (the copies are appended to *copies: close them
// after the spawn), so no dup2 can overwrite a source another has yet to
// read. Fds above the layout never reach the child. Returns 0, or an errno
// from copying a source or from adding a file action (ENOMEM).
int AddFdMoves(posix_spawn_file_actions_t* fa, std::vector<nd_fd_move> moves, std::vector<int>* copies) {
  std::vector<nd_fd_move> given = moves;
  size_t failed = 0;
  int err = daemon_fd_moves_lift(moves.data(), moves.size(), &failed);
  for (size_t i = 0; i < moves.size(); i++)
    if (moves[i].from != given[i].from && std::find(copies->begin(), copies->end(), moves[i].from) == copies->end())
      copies->push_back(moves[i].from);
  if (err != 0) return err;
  for (const nd_fd_move& m : moves) {
    err = m.from == ND_FD_CLOSE ? posix_spawn_file_actions_addclose(fa, m.to)  // a caller's stray fd there
                                : posix_spawn_file_actions_adddup2(fa, m.from, m.to);  // dup2 clears close-on-exec on the target
    if (err != 0) return err;
  }
  // Fds the caller left without close-on-exec are the helper's to drop: it
  // closes everything above its own as its first step (close_range). Not
  // posix_spawn_file_actions_addclosefrom_np: that is glibc 2.34+, above
  // the prebuilds' floor (2.28).
  return 0;
}

}  // namespace

// A memfd holding the plan, sealed once written (nothing can change or
// grow it after our checks). NOEXEC_SEAL: kernels with vm.memfd_noexec=2
// refuse an executable memfd; older kernels do not know the flag (EINVAL):
// then without it. Returns the fd, or -1 with errno and *syscall set.
int PlanMemfd(const Napi::Buffer<char>& plan, const char** syscall) {
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
  *syscall = "memfd_create";
  int fd = memfd_create("node-daemonize-plan", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
  if (fd < 0 && errno == EINVAL) fd = memfd_create("node-daemonize-plan", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  *syscall = "write";
  for (size_t off = 0; off < plan.Length();) {
    ssize_t n = Retry([&] { return write(fd, plan.Data() + off, plan.Length() - off); });
    if (n < 0) {
      int err = errno;
      close(fd);
      errno = err;
      return -1;
    }
    off += static_cast<size_t>(n);
  }
  *syscall = "fcntl";
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

namespace {

// ---------------------------------------------------------------------- spawn

// spawnHelper(helperPath, plan: Buffer, logFd, lockFd | -1, pidFd | -1, lockPath?, pidPath?, stateFd?,
//             statePath?, socketFds?: number[])
//   -> { pid, statusFd }
// socketFds (--listen) become the helper's fds ND_HELPER_FD_SOCKETS.. in order;
// the plan's nsockets must be their number.
// stateFd (with --respawn: the supervisor's state file) is the helper's fd 8,
// which the supervisor keeps.
// lockFd (the locked lock file) becomes the daemon's lock fd; pidFd (the
// pid file) is the helper's alone. The launch is in flight until
// waitPid(pid) (see OnEnvCleanup); the paths let the cleanup hook remove
// the files.
Napi::Value SpawnHelper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage =
      "spawnHelper(helperPath: string, plan: Buffer, logFd: number, lockFd: number, pidFd: number, "
      "lockPath?: string, pidPath?: string, stateFd?: number, statePath?: string, socketFds?: number[])";
  std::string helper = StringArg(info, 0, usage);
  if (info.Length() < 2 || !info[1].IsBuffer()) throw UsageError(env, usage);
  Napi::Buffer<char> plan = info[1].As<Napi::Buffer<char>>();
  int log_fd = IntArg(info, 2, usage);
  int lock_fd = IntArg(info, 3, usage);
  int pid_fd = IntArg(info, 4, usage);
  std::string lock_path = OptionalStringArg(info, 5, usage);
  std::string pid_path = OptionalStringArg(info, 6, usage);
  int state_fd = info.Length() > 7 && !info[7].IsUndefined() ? IntArg(info, 7, usage) : -1;
  std::string state_path = OptionalStringArg(info, 8, usage);
  std::vector<int> socket_fds;
  if (info.Length() > 9 && !info[9].IsUndefined()) {
    if (!info[9].IsArray()) throw UsageError(env, usage);
    Napi::Array a = info[9].As<Napi::Array>();
    if (a.Length() > ND_PLAN_SOCKETS_MAX) throw UsageError(env, usage);
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (!v.IsNumber() || v.As<Napi::Number>().Int32Value() < 0) throw UsageError(env, usage);
      socket_fds.push_back(v.As<Napi::Number>().Int32Value());
    }
  }

  std::vector<int> owned;  // fds made here, closed once the helper has its own
  int status_r = -1;
  auto fail = [&](int err, const char* syscall, const std::string& path = "") {
    for (int fd : owned) close(fd);
    if (status_r >= 0) close(status_r);
    return SystemError(env, err, syscall, path);
  };

  int null_fd = Retry([] { return open("/dev/null", O_RDWR | O_CLOEXEC); });
  if (null_fd < 0) throw fail(errno, "open", "/dev/null");
  owned.push_back(null_fd);
  const char* failed_call;
  int plan_fd = PlanMemfd(plan, &failed_call);
  if (plan_fd < 0) throw fail(errno, failed_call);
  owned.push_back(plan_fd);
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) throw fail(errno, "pipe2");
  status_r = pipefd[0];
  owned.push_back(pipefd[1]);

  // The helper's fds at start (protocol.h). An empty slot is closed, so a
  // stray fd of the caller's can never pass for the lock or the pid file.
  nd_fd_move layout[ND_HELPER_FD_SOCKETS + ND_PLAN_SOCKETS_MAX] = {
      {null_fd, 0},
      {null_fd, 1},
      {null_fd, 2},
      {plan_fd, ND_HELPER_FD_PLAN},
      {pipefd[1], ND_HELPER_FD_STATUS},
      {log_fd, ND_HELPER_FD_LOG},
      {lock_fd >= 0 ? lock_fd : ND_FD_CLOSE, ND_HELPER_FD_LOCK},
      {pid_fd >= 0 ? pid_fd : ND_FD_CLOSE, ND_HELPER_FD_PIDFILE},
      {state_fd >= 0 ? state_fd : ND_FD_CLOSE, ND_HELPER_FD_STATE},
  };
  size_t nlayout = ND_HELPER_FD_SOCKETS;
  for (size_t i = 0; i < socket_fds.size(); i++)  // at most ND_PLAN_SOCKETS_MAX (checked above)
    layout[nlayout++] = {socket_fds[i], ND_HELPER_FD_SOCKETS + static_cast<int>(i)};
  // Built at once, not grown: a growing vector of these would need a
  // libstdc++ newer than the prebuilds' floor (native-portability.test.ts).
  std::vector<nd_fd_move> moves(layout, layout + nlayout);
  posix_spawn_file_actions_t fa;
  int err = posix_spawn_file_actions_init(&fa);
  if (err != 0) throw fail(err, "posix_spawn", helper);
  err = AddFdMoves(&fa, moves, &owned);
  if (err != 0) {
    posix_spawn_file_actions_destroy(&fa);
    throw fail(err, "fcntl");
  }

  // The helper starts clean whatever the caller did to its signals: every
  // disposition default (real-time ones too, but not glibc's reserved
  // ones) and an empty mask.
  posix_spawnattr_t attr;
  err = posix_spawnattr_init(&attr);
  if (err != 0) {
    posix_spawn_file_actions_destroy(&fa);
    throw fail(err, "posix_spawn", helper);
  }
  sigset_t def, none;
  sigemptyset(&def);
  sigemptyset(&none);
  for (int sig = 1; sig <= ND_SIGNAL_LAST; sig++)
    if (sig != SIGKILL && sig != SIGSTOP && (sig < ND_SIGNAL_GLIBC_RESERVED_FIRST || sig > ND_SIGNAL_GLIBC_RESERVED_LAST))
      sigaddset(&def, sig);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
#ifdef POSIX_SPAWN_USEVFORK
  flags |= POSIX_SPAWN_USEVFORK;
#endif
  err = posix_spawnattr_setsigdefault(&attr, &def);
  if (err == 0) err = posix_spawnattr_setsigmask(&attr, &none);
  if (err == 0) err = posix_spawnattr_setflags(&attr, flags);

  // An empty environment: nothing meant for the daemon (LD_PRELOAD, ...)
  // ever loads into the helper, which may run as root.
  char name[] = "node-daemonize-helper";
  char* argv[] = {name, nullptr};
  char* envp[] = {nullptr};
  pid_t pid;
  if (err == 0) err = posix_spawn(&pid, helper.c_str(), &fa, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (err != 0) throw fail(err, "posix_spawn", helper);
  for (int fd : owned) close(fd);
  static_cast<Launches*>(info.Data())
      ->push_back(InFlight{pid, Track(status_r), Track(log_fd), Track(lock_fd), Track(pid_fd), lock_path, pid_path,
                           Track(state_fd), state_path});

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
  Launches* launches = static_cast<Launches*>(info.Data());
  auto it = std::find_if(launches->begin(), launches->end(), [&](const InFlight& l) { return l.helper == pid; });
  if (it != launches->end()) launches->erase(it);
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

}  // namespace

void InitSpawn(Napi::Env env, Napi::Object exports) {
  // The hook runs when the environment ends, and frees the list.
  Launches* launches = new Launches();
  napi_add_env_cleanup_hook(env, OnEnvCleanup, launches);
  exports.Set("spawnHelper", Napi::Function::New(env, SpawnHelper, "spawnHelper", launches));
  exports.Set("waitPid", Napi::Function::New(env, WaitPid, "waitPid", launches));
  exports.Set("decodeWaitStatus", Napi::Function::New(env, DecodeWaitStatus));
}
