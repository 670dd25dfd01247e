// The files a process has open, as /proc/<pid>/fd shows them: one call for
// what readdir plus a stat per entry cost the CLI in JavaScript (status and
// stop ask whether the daemon holds its lock file; the holder scans ask it
// of every process). Only numbers cross: which fd, and the device and inode
// of what it names; what they mean is decided in src/proc/lock-holders.ts.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "addon.h"
#include "compat.h"
#include "errors.h"

namespace {

// An fd table is at most this long here (RLIMIT_NOFILE's usual hard limit
// is 1M; a table longer than that is read up to it and no further).
constexpr size_t kMaxFds = 1 << 20;

// procFdStats(dir: string) -> number[]: [fd, dev, ino, fd, dev, ino, ...]
// for each entry of dir (a /proc/<pid>/fd or /proc/<pid>/task/<tid>/fd)
// whose target could be stat'ed; one closed meanwhile, or whose target
// cannot be stat'ed, is left out, as readdirSync + statSync left it out.
// Opening dir fails as readdirSync does (ENOENT: no such process; EACCES:
// another user's), a SystemError with syscall "scandir".
Napi::Value ProcFdStats(const Napi::CallbackInfo& info) {
  const char* usage = "procFdStats(dir: string)";
  std::string path = StringArg(info, 0, usage);
  if (path.find('\0') != std::string::npos) throw UsageError(info.Env(), usage);
  int dirfd = Retry([&] { return open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (dirfd < 0) throw SystemError(info.Env(), errno, "scandir", path);
  DIR* dir = fdopendir(dirfd);
  if (dir == nullptr) {
    int err = errno;
    close(dirfd);
    throw SystemError(info.Env(), err, "scandir", path);
  }
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  size_t seen = 0;
  struct dirent* e;
  while ((e = readdir(dir)) != nullptr && seen < kMaxFds) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;  // ".", ".."
    seen++;
    // Follows the magic link: the file the fd names, as statSync did
    // (nd_statat: fstatat is a GLIBC_2.33 symbol, compat.h).
    struct stat st;
    if (Retry([&] { return nd_statat(dirfd, e->d_name, &st); }) != 0) continue;
    out.Set(n++, Napi::Number::New(env, static_cast<double>(strtol(e->d_name, nullptr, 10))));
    out.Set(n++, Napi::Number::New(env, static_cast<double>(st.st_dev)));
    out.Set(n++, Napi::Number::New(env, static_cast<double>(st.st_ino)));
  }
  closedir(dir);
  return out;
}

}  // namespace

void InitProcFd(Napi::Env env, Napi::Object exports) {
  exports.Set("procFdStats", Napi::Function::New(env, ProcFdStats, "procFdStats"));
}
