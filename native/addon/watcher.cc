// FdWatcher: puts an fd into the event loop (uv_poll), so that a long wait
// (readiness, stop) never blocks a thread-pool thread.
//
// new FdWatcher(fd, callback): callback(status, events) runs on the event
// loop each time fd is readable (or hung up). close() stops it. The
// watcher keeps itself alive while it is open.
#include <uv.h>

#include "addon.h"
#include "errors.h"

namespace {

class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "FdWatcher", {InstanceMethod("close", &FdWatcher::Close)});
  }

  FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    Napi::Env env = info.Env();
    const char* usage = "new FdWatcher(fd: number, callback: () => void)";
    int fd = IntArg(info, 0, usage);
    if (info.Length() < 2 || !info[1].IsFunction()) throw UsageError(env, usage);
    uv_loop_t* loop;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) throw Napi::Error::New(env, "no event loop");
    poll_ = new uv_poll_t;
    int r = uv_poll_init(loop, poll_, fd);
    if (r < 0) {
      delete poll_;
      poll_ = nullptr;
      throw SystemError(env, -r, "uv_poll_init");
    }
    poll_->data = this;
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    r = uv_poll_start(poll_, UV_READABLE | UV_DISCONNECT, OnReady);
    if (r < 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), OnClosed);
      poll_ = nullptr;
      throw SystemError(env, -r, "uv_poll_start");
    }
    // An environment that ends (a Worker terminated) with the handle open
    // would abort in uv_loop_close: close it from a cleanup hook.
    napi_add_async_cleanup_hook(env, OnEnvCleanup, this, &hook_);
    Ref();  // stay alive until close()
  }

  ~FdWatcher() override { Stop(); }

 private:
  static void OnReady(uv_poll_t* handle, int status, int events) {
    FdWatcher* self = static_cast<FdWatcher*>(handle->data);
    if (self == nullptr) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    try {
      self->callback_.MakeCallback(self->Value(), {Napi::Number::New(env, status), Napi::Number::New(env, events)});
    } catch (const Napi::Error& e) {
      // A C++ exception must not unwind through libuv: hand the JS error to
      // Node, which reports it as an uncaught exception like any callback's.
      napi_fatal_exception(env, e.Value());
    }
  }

  static void OnClosed(uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); }

  struct HookClose {
    uv_poll_t* poll;
    napi_async_cleanup_hook_handle hook;
  };

  static void OnEnvCleanup(napi_async_cleanup_hook_handle hook, void* arg) {
    FdWatcher* self = static_cast<FdWatcher*>(arg);
    uv_poll_t* poll = self->poll_;
    self->poll_ = nullptr;
    self->hook_ = nullptr;
    if (poll == nullptr) {
      napi_remove_async_cleanup_hook(hook);
      return;
    }
    uv_poll_stop(poll);
    poll->data = new HookClose{poll, hook};
    uv_close(reinterpret_cast<uv_handle_t*>(poll), [](uv_handle_t* h) {
      HookClose* hc = static_cast<HookClose*>(h->data);
      napi_remove_async_cleanup_hook(hc->hook);
      delete hc->poll;
      delete hc;
    });
  }

  // Stops watching; returns true if it was still watching.
  bool Stop() {
    if (poll_ == nullptr) return false;
    if (hook_ != nullptr) napi_remove_async_cleanup_hook(hook_);
    hook_ = nullptr;
    uv_poll_stop(poll_);
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), OnClosed);
    poll_ = nullptr;
    return true;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (Stop()) {
      callback_.Reset();
      Unref();
    }
    return info.Env().Undefined();
  }

  uv_poll_t* poll_ = nullptr;
  napi_async_cleanup_hook_handle hook_ = nullptr;
  Napi::FunctionReference callback_;
};

}  // namespace

void InitWatcher(Napi::Env env, Napi::Object exports) { exports.Set("FdWatcher", FdWatcher::Init(env)); }
