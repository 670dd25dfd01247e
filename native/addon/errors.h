// The addon's one error idiom. A system call that fails throws a
// SystemError like Node's own (code "ENOENT", errno negative as libuv
// reports it, syscall, and path where there is one); a wrong call throws a
// TypeError (code ERR_INVALID_ARG_TYPE) before any work is done, never a
// crash. The *Arg readers check and read one argument each; usage is the
// signature the error message shows.
#ifndef NODE_DAEMONIZE_ADDON_ERRORS_H
#define NODE_DAEMONIZE_ADDON_ERRORS_H

#include <napi.h>

#include <errno.h>

#include <string>

// Every syscall in an EINTR loop.
template <typename F>
auto Retry(F f) -> decltype(f()) {
  decltype(f()) r;
  do r = f();
  while (r == -1 && errno == EINTR);
  return r;
}

Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& path = "");
Napi::Error UsageError(Napi::Env env, const char* usage);

int32_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* usage);
uint32_t UintArg(const Napi::CallbackInfo& info, size_t i, const char* usage);
// Missing or undefined: fallback; anything else but a number: a TypeError.
int32_t OptionalIntArg(const Napi::CallbackInfo& info, size_t i, int32_t fallback, const char* usage);
std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* usage);
// Missing or undefined: "".
std::string OptionalStringArg(const Napi::CallbackInfo& info, size_t i, const char* usage);

#endif
