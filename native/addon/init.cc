// The addon's entry point: the syscalls Node lacks, one concern a file
// (see addon.h). Everything is a thin, synchronous wrapper except
// FdWatcher, which puts an fd into the event loop (uv_poll) so that long
// waits never hold a thread-pool thread.
#include "addon.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitSpawn(env, exports);
  InitSession(env, exports);
  InitLocks(env, exports);
  InitWatcher(env, exports);
  InitUsers(env, exports);
  InitNotify(env, exports);
  InitLog(env, exports);
  InitListen(env, exports);
  InitDirs(env, exports);
  InitExec(env, exports);
  InitProtocol(env, exports);
  InitProcFd(env, exports);
  InitWalk(env, exports);
  InitRead(env, exports);
  InitExit(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(node_daemonize, Init)
