// A small file someone else may have planted or replaced, read in one call:
// opened O_NOFOLLOW (a symbolic link is ELOOP), O_NONBLOCK (a FIFO cannot
// hang the reader), O_NOCTTY; its metadata from the fd it was read through;
// its bytes only when it is a regular file. What the metadata must be is
// decided in JavaScript (files/checks.ts). One call where Node's openSync,
// fstatSync, readSync and closeSync cost a command ~0.8 ms of cold code for
// the first file it reads (issue 23); a file that does not exist is null,
// not an exception.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "addon.h"
#include "compat.h"
#include "errors.h"

namespace {

// readUntrusted(path: string, maxBytes: number, keepOpen?: boolean)
//   -> null (ENOENT) | { mode, uid, nlink, size, dev, ino, data?: Buffer, fd? }
// data: the bytes from the start to the end of the file, at most
// maxBytes + 1 of them (one more than allowed, so the caller can tell a
// file that is too long), for a regular file only.
// Any other failure to open throws a SystemError (syscall "open", path).
Napi::Value ReadUntrusted(const Napi::CallbackInfo& info) {
  const char* usage = "readUntrusted(path: string, maxBytes: number, keepOpen?: boolean)";
  std::string path = StringArg(info, 0, usage);
  uint32_t max = UintArg(info, 1, usage);
  bool keep = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  if (path.find('\0') != std::string::npos || max > (64u << 20)) throw UsageError(info.Env(), usage);
  Napi::Env env = info.Env();
  int fd = Retry([&] { return open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC); });
  if (fd < 0) {
    if (errno == ENOENT) return env.Null();
    throw SystemError(env, errno, "open", path);
  }
  struct stat st;
  if (nd_fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    throw SystemError(env, err, "fstat", path);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("mode", static_cast<double>(st.st_mode));
  out.Set("uid", static_cast<double>(st.st_uid));
  out.Set("nlink", static_cast<double>(st.st_nlink));
  out.Set("size", static_cast<double>(st.st_size));
  out.Set("dev", static_cast<double>(st.st_dev));
  out.Set("ino", static_cast<double>(st.st_ino));
  if (S_ISREG(st.st_mode)) {
    // Until the end of the file or max + 1 bytes, whatever its size said:
    // one that grew since the fstat is read as it is now (a pid written
    // meanwhile), and one that says 0 (/proc's) is read all the same. The
    // buffer starts at what the size says and grows only while it fills,
    // so a small file never costs a max-sized buffer (a spec's max is 4 MiB).
    const size_t limit = static_cast<size_t>(max) + 1;
    std::vector<char> buf(st.st_size > 0 && static_cast<uint64_t>(st.st_size) < max ? static_cast<size_t>(st.st_size) + 1 : limit);
    size_t got = 0;
    for (;;) {
      if (got == buf.size()) {
        if (buf.size() == limit) break;
        buf.resize(buf.size() * 2 < limit ? buf.size() * 2 : limit);
      }
      ssize_t n = Retry([&] { return pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(got)); });
      if (n < 0) {
        int err = errno;
        close(fd);
        throw SystemError(env, err, "read", path);
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    out.Set("data", Napi::Buffer<char>::Copy(env, buf.data(), got));
  }
  // keepOpen: the caller goes on with the fd it checked (a lock to test)
  // and closes it; else it is closed here.
  if (keep) out.Set("fd", static_cast<double>(fd));
  else close(fd);
  return out;
}

}  // namespace

void InitRead(Napi::Env env, Napi::Object exports) {
  exports.Set("readUntrusted", Napi::Function::New(env, ReadUntrusted, "readUntrusted"));
}
