// Sessions and processes: getsid/getpgid, pidfd_open and
// pidfd_send_signal (signal the right process even if pids are recycled),
// and killSession, which empties a session of everything but its leader.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "session.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "addon.h"
#include "errors.h"

namespace {

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

// killSession(sid, timeoutMs = 2000) -> { killed, left }
Napi::Value KillSessionJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "killSession(sid: number, timeoutMs?: number)";
  pid_t sid = IntArg(info, 0, usage);
  int timeout_ms = OptionalIntArg(info, 1, 2000, usage);
  if (sid <= 1) throw UsageError(env, "killSession(sid: number, timeoutMs?: number): sid must be > 1");
  SessionKill r = KillSession(sid, timeout_ms);
  Napi::Object out = Napi::Object::New(env);
  out.Set("killed", Napi::Number::New(env, r.killed));
  out.Set("left", Napi::Number::New(env, r.left));
  return out;
}

// getsid(pid = 0) -> the session id
Napi::Value GetSid(const Napi::CallbackInfo& info) {
  pid_t sid = getsid(OptionalIntArg(info, 0, 0, "getsid(pid?: number)"));
  if (sid < 0) throw SystemError(info.Env(), errno, "getsid");
  return Napi::Number::New(info.Env(), sid);
}

// getpgid(pid = 0) -> the process group id
Napi::Value GetPgid(const Napi::CallbackInfo& info) {
  pid_t pgid = getpgid(OptionalIntArg(info, 0, 0, "getpgid(pid?: number)"));
  if (pgid < 0) throw SystemError(info.Env(), errno, "getpgid");
  return Napi::Number::New(info.Env(), pgid);
}

// pidfdOpen(pid) -> a pidfd (pidfd_open sets O_CLOEXEC on it itself)
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  pid_t pid = IntArg(info, 0, "pidfdOpen(pid: number)");
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) throw SystemError(info.Env(), errno, "pidfd_open");
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  const char* usage = "pidfdSendSignal(pidfd: number, signal: number)";
  int fd = IntArg(info, 0, usage);
  int sig = IntArg(info, 1, usage);
  if (syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) < 0) throw SystemError(info.Env(), errno, "pidfd_send_signal");
  return info.Env().Undefined();
}

}  // namespace

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

void InitSession(Napi::Env env, Napi::Object exports) {
  exports.Set("getsid", Napi::Function::New(env, GetSid));
  exports.Set("getpgid", Napi::Function::New(env, GetPgid));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal));
  exports.Set("killSession", Napi::Function::New(env, KillSessionJs));
}
