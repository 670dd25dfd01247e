// The protocol's tables and constants (../protocol.h), exported so that
// TypeScript reads the one definition instead of restating it: stages,
// syscalls, plan flags, record errors, the daemon's fds, signal facts.
#include "addon.h"

extern "C" {
#include "../protocol.h"
}

namespace {

// One row of a table: { id, name } and, for a stage, the syscall a
// failure names by default.
Napi::Object Row(Napi::Env env, int id, const char* name, const char* syscall = nullptr) {
  Napi::Object row = Napi::Object::New(env);
  row.Set("id", Napi::Number::New(env, id));
  row.Set("name", Napi::String::New(env, name));
  if (syscall != nullptr) row.Set("syscall", Napi::String::New(env, syscall));
  return row;
}

Napi::Array Stages(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
#define ND_STAGE_ROW(name, id, syscall) out.Set(i++, Row(env, id, #name, syscall));
  ND_STAGES(ND_STAGE_ROW)
#undef ND_STAGE_ROW
  return out;
}

Napi::Array Syscalls(Napi::Env env) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
#define ND_SYSCALL_ROW(name, id) out.Set(i++, Row(env, id, #name));
  ND_SYSCALLS(ND_SYSCALL_ROW)
#undef ND_SYSCALL_ROW
  return out;
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
#define C(n) o.Set(#n, Napi::Number::New(env, n))
  C(ND_PLAN_MAGIC);
  C(ND_PLAN_VERSION);
  C(ND_PLAN_HAS_LOCK);
  C(ND_PLAN_WANT_READY);
  C(ND_PLAN_KEEP_ON_TIMEOUT);
  C(ND_PLAN_SET_IDS);
  C(ND_PLAN_SET_NOFILE);
  C(ND_PLAN_SET_CORE);
  C(ND_PLAN_DRY_RUN);
  C(ND_PLAN_FAULT_STOP_AFTER_FORK);
  C(ND_PLAN_HAS_PIDFILE);
  C(ND_PLAN_RESPAWN);
  C(ND_PLAN_FAULT_NO_SUBREAPER);
  C(ND_PLAN_FAULT_NO_CGROUP);
  C(ND_PLAN_RUN);
  C(ND_PLAN_RUN_ONCE);
  C(ND_PLAN_RUN_FORWARD_USR1);
  C(ND_PLAN_RUN_LOG_FILE);
  C(ND_PLAN_RUN_READY_FILE);
  C(ND_EVERIFY);
  C(ND_EEXITED);
  C(ND_ETIMEOUT);
  C(ND_EPLAN);
  C(ND_EHELPER);
  C(ND_DAEMON_FD_LOCK);
  C(ND_DAEMON_FD_READY);
  C(ND_DAEMON_FD_BASE);
  C(ND_PLAN_SOCKETS_MAX);
  C(ND_LISTEN_PID_DIGITS);
  C(ND_SIGNAL_LAST);
  C(ND_SIGNAL_GLIBC_RESERVED_FIRST);
  C(ND_SIGNAL_GLIBC_RESERVED_LAST);
#undef C
  o.Set("PLAN_HEADER_SIZE", Napi::Number::New(env, sizeof(struct nd_plan_header)));
  o.Set("RESPAWN_PLAN_SIZE", Napi::Number::New(env, sizeof(struct nd_respawn_plan)));
  o.Set("RECORD_SIZE", Napi::Number::New(env, sizeof(struct nd_record)));
  return o;
}

// Each table is made on its first read, then kept as a plain property:
// made at load, the three cost ~0.1 ms of every command's dlopen (~300
// napi calls), and `status`, `stop`, `logs` and `list` read none of them.
template <Napi::Value (*Make)(Napi::Env), const char* Name>
Napi::Value Lazy(const Napi::CallbackInfo& info) {
  Napi::Value v = Make(info.Env());
  info.This().As<Napi::Object>().DefineProperty(Napi::PropertyDescriptor::Value(Name, v, napi_enumerable));
  return v;
}

Napi::Value StagesValue(Napi::Env env) { return Stages(env); }
Napi::Value SyscallsValue(Napi::Env env) { return Syscalls(env); }
Napi::Value ConstantsValue(Napi::Env env) { return Constants(env); }
constexpr char kStages[] = "stages";
constexpr char kSyscalls[] = "syscalls";
constexpr char kConstants[] = "constants";

}  // namespace

void InitProtocol(Napi::Env env, Napi::Object exports) {
  const auto lazy = static_cast<napi_property_attributes>(napi_enumerable | napi_configurable);
  exports.DefineProperties({
      Napi::PropertyDescriptor::Accessor<Lazy<StagesValue, kStages>>(kStages, lazy),
      Napi::PropertyDescriptor::Accessor<Lazy<SyscallsValue, kSyscalls>>(kSyscalls, lazy),
      Napi::PropertyDescriptor::Accessor<Lazy<ConstantsValue, kConstants>>(kConstants, lazy),
  });
}
