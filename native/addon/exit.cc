// exitNow: the CLI's end once its command is done and nothing is in flight
// (src/cli/command.ts finish). process.exit() would first tear Node down:
// stop and join the platform's worker threads, dispose of the isolate, run
// the C++ destructors and atexit handlers; ~0.5 ms of every command here,
// for a process whose every line was already written with write(2).
// _exit(2) leaves all of that to the kernel, as the end of a C program does.
#include <fcntl.h>
#include <unistd.h>

#include "addon.h"
#include "errors.h"

namespace {

// exitNow(code: number) -> false, or never returns.
// Not when fd 0, 1 or 2 is in non-blocking mode: Node (libuv, for a pipe
// it made a stream of) may have set it on a file description the shell
// shares, and its teardown puts back the mode it found; the caller then
// ends with process.exit().
Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  const char* usage = "exitNow(code: number)";
  int code = IntArg(info, 0, usage);
  if (code < 0 || code > 255) throw UsageError(info.Env(), usage);
  for (int fd = 0; fd <= 2; fd++) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK)) return Napi::Boolean::New(info.Env(), false);
  }
  _exit(code);
}

}  // namespace

void InitExit(Napi::Env env, Napi::Object exports) { exports.Set("exitNow", Napi::Function::New(env, ExitNow)); }
