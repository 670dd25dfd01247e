// execSupervisor: `node-daemonize run` replaces this Node process with the
// helper, which runs as the supervisor in the foreground (native/pid1.h).
// Node 20 has no process.execve. There is no way back after the execve:
// everything that can fail is done before the first fd is moved.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "compat.h"

#include "addon.h"
#include "errors.h"
#include "plan_memfd.h"

extern "C" {
#include "../fd_moves.h"
#include "../protocol.h"
}

namespace {

// execSupervisor(helperPath, plan: Buffer, logFd: number, readyDirFd: number, socketFds: number[])
//   -> never returns; throws only when nothing was changed yet.
// The helper's fds (native/protocol.h, ND_PLAN_RUN): 0, 1, 2 as they are
// (the app's, untouched), 3 the plan, 4 /dev/null, 5 the log (logFd, or a
// copy of stderr without one: the supervisor's event lines), 6 the ready
// file's directory (or /dev/null), 7 and 8 /dev/null, the sockets from 9.
// Every other fd is the helper's to close (it does, at once).
Napi::Value ExecSupervisor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "execSupervisor(helperPath: string, plan: Buffer, logFd: number, readyDirFd: number, socketFds: number[])";
  std::string helper = StringArg(info, 0, usage);
  if (info.Length() < 5 || !info[1].IsBuffer() || !info[4].IsArray()) throw UsageError(env, usage);
  Napi::Buffer<char> plan = info[1].As<Napi::Buffer<char>>();
  int log_fd = IntArg(info, 2, usage);
  int ready_dir = IntArg(info, 3, usage);
  Napi::Array a = info[4].As<Napi::Array>();
  if (a.Length() > ND_PLAN_SOCKETS_MAX) throw UsageError(env, usage);
  std::vector<int> socket_fds;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsNumber() || v.As<Napi::Number>().Int32Value() < 0) throw UsageError(env, usage);
    socket_fds.push_back(v.As<Napi::Number>().Int32Value());
  }
  // The helper must be there and executable: after the moves below a
  // failed execve could not be reported in any useful way.
  if (access(helper.c_str(), X_OK) < 0) throw SystemError(env, errno, "access", helper);

  int null_fd = Retry([] { return open("/dev/null", O_RDWR | O_CLOEXEC); });
  if (null_fd < 0) throw SystemError(env, errno, "open", "/dev/null");
  const char* failed_call;
  int plan_fd = PlanMemfd(plan, &failed_call);
  if (plan_fd < 0) {
    int err = errno;
    close(null_fd);
    throw SystemError(env, err, failed_call);
  }
  std::vector<nd_fd_move> moves = {
      {plan_fd, ND_HELPER_FD_PLAN},
      {null_fd, ND_HELPER_FD_STATUS},
      {log_fd >= 0 ? log_fd : 2, ND_HELPER_FD_LOG},
      {ready_dir >= 0 ? ready_dir : null_fd, ND_HELPER_FD_LOCK},
      {null_fd, ND_HELPER_FD_PIDFILE},
      {null_fd, ND_HELPER_FD_STATE},
  };
  for (size_t i = 0; i < socket_fds.size(); i++) moves.push_back({socket_fds[i], ND_HELPER_FD_SOCKETS + static_cast<int>(i)});
  // Every source out of the way of every target first (fd_moves.h): then
  // the dup2s below cannot overwrite one another's sources.
  size_t failed = 0;
  int err = daemon_fd_moves_lift(moves.data(), moves.size(), &failed);
  if (err != 0) {
    close(null_fd);
    close(plan_fd);
    throw SystemError(env, err, "fcntl");
  }

  // From here on, no way back. Every signal blocked in this thread first,
  // so that nothing sent during the hand-over is lost or acted on by a
  // default half-way: a blocked signal stays pending across execve, and
  // the supervisor sets its own mask as its first step (supervisor.c).
  // Another thread of Node's could still take one in the instant between
  // the reset and the exec; that instant is all there is.
  // (sigprocmask: this thread's mask in glibc, as pthread_sigmask, whose
  // libc symbol is 2.32, above the prebuilds' floor of 2.28.)
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  // Every disposition back to the default: Node ignores SIGPIPE and
  // SIGXFSZ, and an ignored signal stays ignored across execve. glibc's
  // reserved pair (32, 33) only through the raw syscall; they are
  // glibc's own, and its sigaction refuses them, so they are left alone.
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig <= ND_SIGNAL_LAST; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (sig >= ND_SIGNAL_GLIBC_RESERVED_FIRST && sig <= ND_SIGNAL_GLIBC_RESERVED_LAST) continue;
    (void)sigaction(sig, &dfl, nullptr);
  }
  for (const nd_fd_move& m : moves) (void)Retry([&] { return dup2(m.from, m.to); });  // dup2 clears close-on-exec
  // Node marks its own stdio close-on-exec; they are the app's, untouched.
  for (int fd = 0; fd <= 2; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0) (void)fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
  }
  char name[] = "node-daemonize-run";
  char* argv[] = {name, nullptr};
  char* envp[] = {nullptr};  // an empty environment, as for the helper (spawn.cc)
  execve(helper.c_str(), argv, envp);
  // Cannot happen after the access() above but for a race (the file
  // replaced meanwhile); our fds are not what Node thinks any more.
  static const char msg[] = "node-daemonize run: cannot execute the supervisor\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(1);
}

}  // namespace

void InitExec(Napi::Env env, Napi::Object exports) { exports.Set("execSupervisor", Napi::Function::New(env, ExecSupervisor)); }
