// User and group lookup (NSS through getpwnam_r and friends), and a user's
// supplementary groups. The two lookups share one routine: a number looks
// up by id, a string by name; null when there is no such entry.
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace {

template <typename Entry>
using ByName = int (*)(const char*, Entry*, char*, size_t, Entry**);
template <typename Id, typename Entry>
using ById = int (*)(Id, Entry*, char*, size_t, Entry**);

// The buffer starts at 16 KiB and doubles while the call says ERANGE.
// ENOENT and ESRCH (which some NSS modules give) mean "no such entry"; the
// error names the call that ran.
template <typename Id, typename Entry>
Napi::Value LookupEntry(const Napi::CallbackInfo& info, const char* usage, ById<Id, Entry> by_id, const char* id_call,
                        ByName<Entry> by_name, const char* name_call, Napi::Object (*to_object)(Napi::Env, const Entry&)) {
  Napi::Env env = info.Env();
  bool by_number = info.Length() > 0 && info[0].IsNumber();
  if (!by_number && !(info.Length() > 0 && info[0].IsString())) throw UsageError(env, usage);
  Id id = by_number ? static_cast<Id>(info[0].As<Napi::Number>().Uint32Value()) : 0;
  std::string name = by_number ? std::string() : info[0].As<Napi::String>().Utf8Value();
  std::vector<char> buf(16384);
  Entry entry, *res = nullptr;
  int err;
  for (;;) {
    err = by_number ? by_id(id, &entry, buf.data(), buf.size(), &res)
                    : by_name(name.c_str(), &entry, buf.data(), buf.size(), &res);
    if (err != ERANGE) break;
    buf.resize(buf.size() * 2);
  }
  if (err != 0 && err != ENOENT && err != ESRCH) throw SystemError(env, err, by_number ? id_call : name_call);
  if (res == nullptr) return env.Null();
  return to_object(env, *res);
}

Napi::Object UserObject(Napi::Env env, const struct passwd& pw) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", Napi::String::New(env, pw.pw_name));
  o.Set("uid", Napi::Number::New(env, pw.pw_uid));
  o.Set("gid", Napi::Number::New(env, pw.pw_gid));
  o.Set("home", Napi::String::New(env, pw.pw_dir ? pw.pw_dir : ""));
  o.Set("shell", Napi::String::New(env, pw.pw_shell ? pw.pw_shell : ""));
  return o;
}

Napi::Object GroupObject(Napi::Env env, const struct group& gr) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", Napi::String::New(env, gr.gr_name));
  o.Set("gid", Napi::Number::New(env, gr.gr_gid));
  return o;
}

// lookupUser(nameOrUid) -> { name, uid, gid, home, shell } | null
Napi::Value LookupUser(const Napi::CallbackInfo& info) {
  return LookupEntry<uid_t, struct passwd>(info, "lookupUser(nameOrUid: string | number)", getpwuid_r, "getpwuid_r",
                                           getpwnam_r, "getpwnam_r", UserObject);
}

// lookupGroup(nameOrGid) -> { name, gid } | null
Napi::Value LookupGroup(const Napi::CallbackInfo& info) {
  return LookupEntry<gid_t, struct group>(info, "lookupGroup(nameOrGid: string | number)", getgrgid_r, "getgrgid_r",
                                          getgrnam_r, "getgrnam_r", GroupObject);
}

// groupList(userName, gid) -> number[] (the user's supplementary groups, gid included)
Napi::Value GroupList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "groupList(user: string, gid: number)";
  std::string name = StringArg(info, 0, usage);
  gid_t gid = UintArg(info, 1, usage);
  int n = 64;
  std::vector<gid_t> groups(n);
  while (getgrouplist(name.c_str(), gid, groups.data(), &n) < 0) groups.resize(n);
  Napi::Array out = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) out.Set(i, Napi::Number::New(env, groups[i]));
  return out;
}

}  // namespace

void InitUsers(Napi::Env env, Napi::Object exports) {
  exports.Set("lookupUser", Napi::Function::New(env, LookupUser));
  exports.Set("lookupGroup", Napi::Function::New(env, LookupGroup));
  exports.Set("groupList", Napi::Function::New(env, GroupList));
}
