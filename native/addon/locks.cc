// Open-file-description locks: owned by the open file, not the process,
// so the lock the caller takes is the lock the daemon inherits and holds;
// and F_OFD_GETLK can test a lock without taking it.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "addon.h"
#include "errors.h"

namespace {

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

}  // namespace

void InitLocks(Napi::Env env, Napi::Object exports) {
  exports.Set("lockFile", Napi::Function::New(env, LockFile));
  exports.Set("isLocked", Napi::Function::New(env, IsLocked));
}
