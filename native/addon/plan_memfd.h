// The plan in a sealed memfd (spawn.cc): the helper reads it at fd 3,
// whether posix_spawn'd (spawnHelper) or exec'd in place (exec.cc).
#ifndef NODE_DAEMONIZE_PLAN_MEMFD_H
#define NODE_DAEMONIZE_PLAN_MEMFD_H

#include <napi.h>

// Returns the fd (close-on-exec), or -1 with errno and *syscall set.
int PlanMemfd(const Napi::Buffer<char>& plan, const char** syscall);

#endif
