// What each part of the addon adds to its exports. init.cc calls these in
// order; each file holds one concern and opens with what it is for.
#ifndef NODE_DAEMONIZE_ADDON_H
#define NODE_DAEMONIZE_ADDON_H

#include <napi.h>

void InitSpawn(Napi::Env env, Napi::Object exports);     // spawn.cc: spawnHelper, waitPid, decodeWaitStatus
void InitSession(Napi::Env env, Napi::Object exports);   // session.cc: getsid, getpgid, pidfd*, killSession
void InitLocks(Napi::Env env, Napi::Object exports);     // locks.cc: lockFile, isLocked
void InitWatcher(Napi::Env env, Napi::Object exports);   // watcher.cc: FdWatcher
void InitUsers(Napi::Env env, Napi::Object exports);     // users.cc: lookupUser, lookupGroup, groupList
void InitNotify(Napi::Env env, Napi::Object exports);    // notify.cc: sdNotify
void InitLog(Napi::Env env, Napi::Object exports);       // log.cc: redirectOutput
void InitListen(Napi::Env env, Napi::Object exports);    // listen.cc: listenTcp, listenUnixAt, setCloexec
void InitDirs(Napi::Env env, Napi::Object exports);      // dirs.cc: openAt, openEntryAt, readLinkAt, mkdirAt, unlinkAt, rmdirAt
void InitExec(Napi::Env env, Napi::Object exports);      // exec.cc: execSupervisor (`run`)
void InitProtocol(Napi::Env env, Napi::Object exports);  // protocol_exports.cc: stages, syscalls, constants
void InitProcFd(Napi::Env env, Napi::Object exports);    // procfd.cc: procFdStats
void InitWalk(Napi::Env env, Napi::Object exports);      // walk.cc: walkDir
void InitRead(Napi::Env env, Napi::Object exports);      // read.cc: readUntrusted
void InitExit(Napi::Env env, Napi::Object exports);      // exit.cc: exitNow

#endif
