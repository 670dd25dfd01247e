// Log reopen: put a freshly opened log file onto fds 1 and 2 (rename +
// HUP, as logrotate's `create` mode does), with the launcher's checks.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "addon.h"
#include "compat.h"
#include "errors.h"

namespace {

// redirectOutput(path, mode): open path for appending (creating it with
// mode) and put it onto fds 1 and 2. Used to reopen a rotated log.
Napi::Value RedirectOutput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "redirectOutput(path: string, mode: number)";
  std::string path = StringArg(info, 0, usage);
  mode_t mode = UintArg(info, 1, usage);
  // O_NONBLOCK: a FIFO planted at the path must not freeze the daemon in
  // open(); the checks below then refuse it, and the flag is cleared.
  int fd = Retry([&] {
    return open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, mode);
  });
  if (fd < 0) throw SystemError(env, errno, "open", path);
  // The launcher's checks, made again on the path that replaces the log:
  // a regular file with one link.
  struct stat st;
  int check = nd_fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : st.st_nlink != 1 ? EMLINK : 0;
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

}  // namespace

void InitLog(Napi::Env env, Napi::Object exports) {
  exports.Set("redirectOutput", Napi::Function::New(env, RedirectOutput));
}
