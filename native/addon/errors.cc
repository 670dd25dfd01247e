// The addon's errors and argument checks (see errors.h).
#include "errors.h"

#include <uv.h>

Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& path) {
  const char* code = uv_err_name(-err);
  std::string msg = std::string(code) + ": " + uv_strerror(-err) + ", " + syscall;
  if (!path.empty()) msg += " '" + path + "'";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) e.Set("path", Napi::String::New(env, path));
  return e;
}

Napi::Error UsageError(Napi::Env env, const char* usage) {
  Napi::Error e = Napi::TypeError::New(env, usage);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  return e;
}

static bool Missing(const Napi::CallbackInfo& info, size_t i) { return info.Length() <= i || info[i].IsUndefined(); }

static Napi::Number NumberArg(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  if (info.Length() <= i || !info[i].IsNumber()) throw UsageError(info.Env(), usage);
  return info[i].As<Napi::Number>();
}

int32_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  return NumberArg(info, i, usage).Int32Value();
}

uint32_t UintArg(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  return NumberArg(info, i, usage).Uint32Value();
}

int32_t OptionalIntArg(const Napi::CallbackInfo& info, size_t i, int32_t fallback, const char* usage) {
  return Missing(info, i) ? fallback : IntArg(info, i, usage);
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  if (info.Length() <= i || !info[i].IsString()) throw UsageError(info.Env(), usage);
  return info[i].As<Napi::String>().Utf8Value();
}

std::string OptionalStringArg(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  return Missing(info, i) ? std::string() : StringArg(info, i, usage);
}
