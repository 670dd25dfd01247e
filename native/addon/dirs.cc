// Directories walked through fds (src/dirwalk.ts): the *at calls Node's fs
// lacks. A directory someone else can write is reached through an fd of a
// directory that was checked, and each entry in it is opened by one name,
// never followed if it is a symbolic link: no later lookup of a path can be
// steered elsewhere by a rename or a link planted on the way.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "addon.h"
#include "errors.h"

namespace {

// One entry of a directory: not empty, no '/', not "." or ".." (the walk
// in TypeScript handles those itself, on the fds it has checked).
bool IsOneName(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name != "." && name != "..";
}

std::string OneNameArg(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  std::string name = StringArg(info, i, usage);
  // A NUL inside would cut the name short in the syscall.
  if (!IsOneName(name) || name.find('\0') != std::string::npos) throw UsageError(info.Env(), usage);
  return name;
}

// openAt(dirfd: number, name: string, flags: number, mode?: number, path?: string) -> fd
// O_NOFOLLOW, O_CLOEXEC and O_NOCTTY are always added: the entry itself is
// opened, a symbolic link there is ELOOP, and no terminal is acquired.
// `path` (the entry's full path) only names it in an error.
Napi::Value OpenAt(const Napi::CallbackInfo& info) {
  const char* usage = "openAt(dirfd: number, name: string, flags: number, mode?: number, path?: string)";
  int dirfd = IntArg(info, 0, usage);
  std::string name = OneNameArg(info, 1, usage);
  int flags = IntArg(info, 2, usage);
  int mode = OptionalIntArg(info, 3, 0, usage);
  std::string path = OptionalStringArg(info, 4, usage);
  if (mode < 0 || mode > 07777) throw UsageError(info.Env(), usage);
  int fd = Retry([&] { return openat(dirfd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, static_cast<mode_t>(mode)); });
  if (fd < 0) throw SystemError(info.Env(), errno, "openat", path.empty() ? name : path);
  return Napi::Number::New(info.Env(), fd);
}

// openEntryAt(dirfd: number, name: string) -> fd (O_PATH)
// The entry whatever it is, a symbolic link included (O_PATH|O_NOFOLLOW):
// fstat says what it is, readLinkAt reads a link, openat uses a directory.
// Nothing is read or opened for I/O, so a FIFO or a device cannot block.
Napi::Value OpenEntryAt(const Napi::CallbackInfo& info) {
  const char* usage = "openEntryAt(dirfd: number, name: string)";
  int dirfd = IntArg(info, 0, usage);
  std::string name = OneNameArg(info, 1, usage);
  int fd = Retry([&] { return openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC); });
  if (fd < 0) throw SystemError(info.Env(), errno, "openat", name);
  return Napi::Number::New(info.Env(), fd);
}

// readLinkAt(fd: number) -> Buffer: the target of the symbolic link fd
// (from openEntryAt) names, read through the fd itself (readlinkat with an
// empty path), so it is the link that was checked, not one put there since.
Napi::Value ReadLinkAt(const Napi::CallbackInfo& info) {
  const char* usage = "readLinkAt(fd: number)";
  int fd = IntArg(info, 0, usage);
  char buf[PATH_MAX];
  ssize_t n = Retry([&] { return readlinkat(fd, "", buf, sizeof buf); });
  if (n < 0) throw SystemError(info.Env(), errno, "readlinkat");
  // A target that fills the buffer may have been cut: refuse it.
  if (static_cast<size_t>(n) >= sizeof buf) throw SystemError(info.Env(), ENAMETOOLONG, "readlinkat");
  return Napi::Buffer<char>::Copy(info.Env(), buf, static_cast<size_t>(n));
}

// mkdirAt(dirfd: number, name: string, mode: number) -> boolean
// true: made here (the caller then owns what it made); false: something of
// that name was already there (EEXIST; the caller opens and checks it).
Napi::Value MkdirAt(const Napi::CallbackInfo& info) {
  const char* usage = "mkdirAt(dirfd: number, name: string, mode: number)";
  int dirfd = IntArg(info, 0, usage);
  std::string name = OneNameArg(info, 1, usage);
  uint32_t mode = UintArg(info, 2, usage);
  if (mode > 07777) throw UsageError(info.Env(), usage);
  if (Retry([&] { return mkdirat(dirfd, name.c_str(), static_cast<mode_t>(mode)); }) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == EEXIST) return Napi::Boolean::New(info.Env(), false);
  throw SystemError(info.Env(), errno, "mkdirat", name);
}

// unlinkAt(dirfd: number, name: string, path?: string) -> undefined
// Removes the entry `name` of dirfd itself (never what a symbolic link
// there points to: unlinkat does not follow). The caller has opened the
// entry with openEntryAt and checked what it is; in a directory nobody else
// may write (or a sticky one), the name cannot have changed since.
// `path` only names it in an error.
Napi::Value UnlinkAt(const Napi::CallbackInfo& info) {
  const char* usage = "unlinkAt(dirfd: number, name: string, path?: string)";
  int dirfd = IntArg(info, 0, usage);
  std::string name = OneNameArg(info, 1, usage);
  std::string path = OptionalStringArg(info, 2, usage);
  if (Retry([&] { return unlinkat(dirfd, name.c_str(), 0); }) != 0) {
    throw SystemError(info.Env(), errno, "unlinkat", path.empty() ? name : path);
  }
  return info.Env().Undefined();
}

// rmdirAt(dirfd: number, name: string, path?: string) -> undefined
// Removes the directory `name` of dirfd only when it is empty (the kernel
// refuses otherwise: ENOTEMPTY), never recursively; a symbolic link there
// is ENOTDIR, not followed.
Napi::Value RmdirAt(const Napi::CallbackInfo& info) {
  const char* usage = "rmdirAt(dirfd: number, name: string, path?: string)";
  int dirfd = IntArg(info, 0, usage);
  std::string name = OneNameArg(info, 1, usage);
  std::string path = OptionalStringArg(info, 2, usage);
  if (Retry([&] { return unlinkat(dirfd, name.c_str(), AT_REMOVEDIR); }) != 0) {
    throw SystemError(info.Env(), errno, "unlinkat", path.empty() ? name : path);
  }
  return info.Env().Undefined();
}

}  // namespace

void InitDirs(Napi::Env env, Napi::Object exports) {
  exports.Set("openAt", Napi::Function::New(env, OpenAt, "openAt"));
  exports.Set("openEntryAt", Napi::Function::New(env, OpenEntryAt, "openEntryAt"));
  exports.Set("readLinkAt", Napi::Function::New(env, ReadLinkAt, "readLinkAt"));
  exports.Set("mkdirAt", Napi::Function::New(env, MkdirAt, "mkdirAt"));
  exports.Set("unlinkAt", Napi::Function::New(env, UnlinkAt, "unlinkAt"));
  exports.Set("rmdirAt", Napi::Function::New(env, RmdirAt, "rmdirAt"));
}
