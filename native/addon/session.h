// Sessions and pidfds, shared with spawn.cc (which kills an aborted
// launch's session).
#ifndef NODE_DAEMONIZE_ADDON_SESSION_H
#define NODE_DAEMONIZE_ADDON_SESSION_H

#include <sys/types.h>

struct SessionKill {
  int killed = 0;  // signals sent
  int left = 0;    // processes still alive when the time ran out
};

// SIGKILL every live process of session sid except its leader, each through
// a pidfd and only after getsid() confirms it again, and scan until none is
// left (a zombie counts as gone: pid 1 may reap it late) or timeout_ms ran
// out. Sound only while the number sid cannot name another session: the
// caller holds the leader (the helper) unreaped, or the members hold it
// (a session id is not reused while any process is in that session).
SessionKill KillSession(pid_t sid, int timeout_ms);

#endif
