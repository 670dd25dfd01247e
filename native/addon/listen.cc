// Listening sockets, opened by the launcher as the caller (root binds port
// 80 before the daemon drops to its user), and the daemon side's one call:
// marking inherited fds close-on-exec, which Node cannot do.
//
// A unix socket is bound where nobody else can reach it: in a private 0700
// directory made next to the target, through /proc/self/fd of that
// directory's fd (so a rename of it changes nothing), then chowned and
// chmodded there, by names inside a directory only we can write, and
// renamed into place. The target directory arrives as an fd the caller
// reached and checked component by component (src/dirwalk.ts); no chown,
// chmod, unlink or connect ever goes through a path in it, which someone
// else (the sticky /tmp) may be able to write.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "compat.h"

#include "addon.h"
#include "errors.h"

namespace {

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

// A failed step: errno and the call that set it.
struct Failure {
  int err;
  const char* syscall;
};

Failure Fail(const char* syscall) { return Failure{errno != 0 ? errno : EIO, syscall}; }

void CloseKeepingErrno(int fd) {
  int saved = errno;
  close(fd);
  errno = saved;
}

// ------------------------------------------------------------------------ tcp

// host "": every address, dual-stack ([::] with IPV6_V6ONLY off), or
// 0.0.0.0 where the kernel has no IPv6. An IPv6 address is bound IPv6-only:
// [::] then means IPv6 alone, the way the address reads.
int OpenTcp(const std::string& host, int port, Failure* f) {
  sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  bool any = host.empty();
  bool v6 = any || host.find(':') != std::string::npos;
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
  auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (v6) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    a6->sin6_addr = in6addr_any;
    if (!any && inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) != 1) {
      *f = Failure{EINVAL, "inet_pton"};
      return -1;
    }
    len = sizeof *a6;
  } else {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1) {
      *f = Failure{EINVAL, "inet_pton"};
      return -1;
    }
    len = sizeof *a4;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 && any && errno == EAFNOSUPPORT) {
    // No IPv6 in this kernel: every IPv4 address.
    memset(&ss, 0, sizeof ss);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    a4->sin_addr.s_addr = htonl(INADDR_ANY);
    len = sizeof *a4;
    v6 = false;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  }
  if (fd < 0) {
    *f = Fail("socket");
    return -1;
  }
  int one = 1, v6only = any ? 0 : 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0)) {
    *f = Fail("setsockopt");
    CloseKeepingErrno(fd);
    return -1;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    *f = Fail("bind");
    CloseKeepingErrno(fd);
    return -1;
  }
  if (listen(fd, SOMAXCONN) < 0) {
    *f = Fail("listen");
    CloseKeepingErrno(fd);
    return -1;
  }
  return fd;
}

// ----------------------------------------------------------------------- unix

// The path of an entry under an open directory, through /proc: bind() and
// connect() take no directory fd.
std::string ProcPath(int dirfd, const char* name) { return "/proc/self/fd/" + std::to_string(dirfd) + "/" + name; }

bool SetUnixAddress(sockaddr_un* sun, const std::string& path) {
  memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  if (path.size() >= sizeof sun->sun_path) return false;
  memcpy(sun->sun_path, path.c_str(), path.size() + 1);
  return true;
}

// Is a live server accepting on the socket file `entry` (an O_PATH fd)?
// Only a refused connection (nobody listening: a stale file) says no; a
// full backlog (EAGAIN) counts as alive. Connected to through
// /proc/self/fd (connect() follows that link to the very inode, as
// systemd's connect_unix_path does), so the probe reaches the file that
// was checked, never one a path names now. A probe only: connecting
// changes no file.
bool SocketIsLive(int entry) {
  sockaddr_un sun;
  if (!SetUnixAddress(&sun, "/proc/self/fd/" + std::to_string(entry))) return true;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return true;
  int r = Retry([&] { return connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun); });
  bool live = r == 0 || errno != ECONNREFUSED;
  close(fd);
  return live;
}

// Puts the bound socket (`tmp` in tmpdir) at `name` in dirfd. An existing
// entry is replaced only when it is a socket file nobody listens on (a
// stale one, left by a daemon that ended); a live one is EADDRINUSE,
// anything else EEXIST. Replacing a name never touches the file it named.
int PlaceSocket(int tmpdir, const char* tmp, int dirfd, const char* name, Failure* f) {
  if (syscall(SYS_renameat2, tmpdir, tmp, dirfd, name, RENAME_NOREPLACE) == 0) return 0;
  if (errno != EEXIST && errno != EINVAL && errno != ENOSYS) {
    *f = Fail("rename");
    return -1;
  }
  // EEXIST: what is there, opened once without following it (O_PATH: a
  // FIFO cannot block), is checked and probed through that one fd.
  // EINVAL/ENOSYS: a file system or kernel without RENAME_NOREPLACE; the
  // same check, then a plain rename.
  int entry = Retry([&] { return openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC); });
  if (entry >= 0) {
    struct stat st;
    int err = nd_fstat(entry, &st) < 0 ? errno : !S_ISSOCK(st.st_mode) ? EEXIST : SocketIsLive(entry) ? EADDRINUSE : 0;
    close(entry);
    if (err != 0) {
      *f = Failure{err, err == EEXIST || err == EADDRINUSE ? "bind" : "fstat"};
      return -1;
    }
  } else if (errno != ENOENT) {
    *f = Fail("open");
    return -1;
  }
  if (Retry([&] { return renameat(tmpdir, tmp, dirfd, name); }) < 0) {
    *f = Fail("rename");
    return -1;
  }
  return 0;
}

// A private directory next to the target: created 0700, opened without
// following a link, and checked to be ours (a directory someone put in
// its place between mkdir and open is refused).
int MakePrivateDir(int dirfd, const std::string& base, std::string* name, Failure* f) {
  for (int attempt = 0; attempt < 16; attempt++) {
    unsigned char rnd[6];
    if (getrandom(rnd, sizeof rnd, 0) != static_cast<ssize_t>(sizeof rnd)) {
      *f = Fail("getrandom");
      return -1;
    }
    char suffix[16];
    snprintf(suffix, sizeof suffix, "%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    *name = "." + base.substr(0, 64) + ".listen-" + suffix;
    if (mkdirat(dirfd, name->c_str(), 0700) < 0) {
      if (errno == EEXIST) continue;
      *f = Fail("mkdir");
      return -1;
    }
    int fd = Retry([&] { return openat(dirfd, name->c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); });
    struct stat st;
    if (fd < 0 || nd_fstat(fd, &st) < 0) {
      *f = Fail(fd < 0 ? "open" : "fstat");
      if (fd >= 0) close(fd);
      return -1;
    }
    // No access for anyone else (a set-group-id bit inherited from the
    // parent is harmless and may be there).
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0077) != 0) {
      close(fd);
      *f = Failure{EPERM, "mkdir"};
      return -1;
    }
    return fd;
  }
  *f = Failure{EEXIST, "mkdir"};
  return -1;
}

// The socket `base` in the directory dirfd (opened and checked by the
// caller; kept open by it).
int OpenUnix(int dirfd, const std::string& base, int64_t uid, int64_t gid, mode_t mode, Failure* f) {
  if (base.empty() || base.find('/') != std::string::npos || base == "." || base == "..") {
    *f = Failure{EINVAL, "bind"};
    return -1;
  }
  std::string tmpname;
  int tmpdir = MakePrivateDir(dirfd, base, &tmpname, f);
  if (tmpdir < 0) return -1;
  static const char kEntry[] = "socket";
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool bound = false;
  bool ok = false;
  sockaddr_un sun;
  if (fd < 0) {
    *f = Fail("socket");
  } else if (!SetUnixAddress(&sun, ProcPath(tmpdir, kEntry))) {
    *f = Failure{ENAMETOOLONG, "bind"};
  } else if (bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) < 0) {
    *f = Fail("bind");
  } else {
    bound = true;
    // Inside the 0700 directory: nobody else can reach the entry yet.
    if ((uid >= 0 || gid >= 0) &&
        fchownat(tmpdir, kEntry, static_cast<uid_t>(uid), static_cast<gid_t>(gid), AT_SYMLINK_NOFOLLOW) < 0)
      *f = Fail("chown");
    else if (fchmodat(tmpdir, kEntry, mode, 0) < 0)
      *f = Fail("chmod");
    else if (listen(fd, SOMAXCONN) < 0)
      *f = Fail("listen");
    else if (PlaceSocket(tmpdir, kEntry, dirfd, base.c_str(), f) == 0)
      ok = true;
  }
  int saved = errno;
  if (bound && !ok) unlinkat(tmpdir, kEntry, 0);
  // By name in the target directory, but AT_REMOVEDIR removes only an empty
  // directory: at worst an empty one someone renamed into its place.
  unlinkat(dirfd, tmpname.c_str(), AT_REMOVEDIR);
  close(tmpdir);
  if (!ok && fd >= 0) close(fd);
  errno = saved;
  return ok ? fd : -1;
}

// ------------------------------------------------------------------- exports

// listenTcp(host: string ("" for every address), port: number) -> fd (close-on-exec)
Napi::Value ListenTcp(const Napi::CallbackInfo& info) {
  const char* usage = "listenTcp(host: string, port: number)";
  std::string host = StringArg(info, 0, usage);
  int port = IntArg(info, 1, usage);
  if (port < 1 || port > 65535) throw UsageError(info.Env(), usage);
  Failure f{0, nullptr};
  int fd = OpenTcp(host, port, &f);
  if (fd < 0) throw SystemError(info.Env(), f.err, f.syscall);
  return Napi::Number::New(info.Env(), fd);
}

// listenUnixAt(dirfd: number, name: string, path: string (for errors),
//              uid: number (-1: keep), gid: number (-1: keep), mode: number)
//   -> fd (close-on-exec)
Napi::Value ListenUnixAt(const Napi::CallbackInfo& info) {
  const char* usage = "listenUnixAt(dirfd: number, name: string, path: string, uid: number, gid: number, mode: number)";
  int dirfd = IntArg(info, 0, usage);
  std::string name = StringArg(info, 1, usage);
  std::string path = StringArg(info, 2, usage);
  int64_t uid = IntArg(info, 3, usage);
  int64_t gid = IntArg(info, 4, usage);
  uint32_t mode = UintArg(info, 5, usage);
  if (mode > 07777) throw UsageError(info.Env(), usage);
  Failure f{0, nullptr};
  int fd = OpenUnix(dirfd, name, uid, gid, static_cast<mode_t>(mode), &f);
  if (fd < 0) throw SystemError(info.Env(), f.err, f.syscall, path);
  return Napi::Number::New(info.Env(), fd);
}

// setCloexec(fd: number): marks fd close-on-exec (a daemon's inherited
// sockets, so its own children never get them).
Napi::Value SetCloexec(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0, "setCloexec(fd: number)");
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) throw SystemError(info.Env(), errno, "fcntl");
  return info.Env().Undefined();
}

// isatty(fd: number): whether fd is a terminal; false for anything else,
// a closed fd included (as node:tty's isatty, which the CLI does not load:
// it brings Node's net and stream modules along). TCGETS does not sleep, so
// there is no EINTR to retry.
Napi::Value IsATty(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0, "isatty(fd: number)");
  return Napi::Boolean::New(info.Env(), fd >= 0 && isatty(fd) == 1);
}

}  // namespace

void InitListen(Napi::Env env, Napi::Object exports) {
  exports.Set("listenTcp", Napi::Function::New(env, ListenTcp, "listenTcp"));
  exports.Set("listenUnixAt", Napi::Function::New(env, ListenUnixAt, "listenUnixAt"));
  exports.Set("setCloexec", Napi::Function::New(env, SetCloexec, "setCloexec"));
  exports.Set("isatty", Napi::Function::New(env, IsATty, "isatty"));
}
