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
  // Raw N-API here, not node-addon-api's wrappers: in an environment that is
  // ending (a Worker terminated), JS cannot run, every call fails, and the
  // wrappers would turn that failure into a Napi::Error, whose construction
  // fails too and aborts the process (FATAL ERROR: Error::Error). A call
  // that cannot run is dropped; an exception the callback threw is handed
  // to Node, which reports it as an uncaught exception like any callback's.
  static void OnReady(uv_poll_t* handle, int status, int events) {
    FdWatcher* self = static_cast<FdWatcher*>(handle->data);
    if (self == nullptr) return;
    napi_env env = self->Env();
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value recv = nullptr, fn = nullptr;
    napi_value argv[2];
    napi_value result;
    napi_ref self_ref = *self;
    napi_ref fn_ref = self->callback_;
    if (self_ref != nullptr && fn_ref != nullptr && napi_get_reference_value(env, self_ref, &recv) == napi_ok &&
        napi_get_reference_value(env, fn_ref, &fn) == napi_ok && recv != nullptr && fn != nullptr &&
        napi_create_int32(env, status, &argv[0]) == napi_ok &&
        napi_create_int32(env, events, &argv[1]) == napi_ok &&
        napi_make_callback(env, nullptr, recv, fn, 2, argv, &result) == napi_pending_exception) {
      napi_value error;
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
          napi_get_and_clear_last_exception(env, &error) == napi_ok) {
        napi_valuetype type;
        // Termination shows as an exception that is no value of JS: nothing to report.
        if (napi_typeof(env, error, &type) == napi_ok && type != napi_undefined) napi_fatal_exception(env, error);
      }
    }
    napi_close_handle_scope(env, scope);
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
