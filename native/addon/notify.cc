// sd_notify: one datagram to systemd's $NOTIFY_SOCKET, and the BARRIER=1
// handshake that tells when the manager has processed it.
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <fcntl.h>

#include <string>

#include "addon.h"
#include "errors.h"

namespace {

// Sends one datagram, optionally with an fd attached (SCM_RIGHTS).
ssize_t SendNotify(int sock, const struct sockaddr_un& addr, socklen_t len, const std::string& msg, int pass_fd) {
  struct iovec iov;
  iov.iov_base = const_cast<char*>(msg.data());
  iov.iov_len = msg.size();
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_name = const_cast<struct sockaddr_un*>(&addr);
  mh.msg_namelen = len;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (pass_fd >= 0) {
    memset(control, 0, sizeof control);
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  return Retry([&] { return sendmsg(sock, &mh, MSG_NOSIGNAL); });
}

// sdNotify(socketPath, message, barrierMs = 0): one datagram to
// $NOTIFY_SOCKET. A leading '@' names an abstract socket. With barrierMs,
// then "BARRIER=1" with a pipe's write end, and wait (at most barrierMs)
// until the manager has closed it: it has then processed the message, so
// the sender may exit without the message being dropped as unattributable.
Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "sdNotify(socketPath: string, message: string, barrierMs?: number)";
  std::string path = StringArg(info, 0, usage);
  std::string msg = StringArg(info, 1, usage);
  int barrier_ms = OptionalIntArg(info, 2, 0, usage);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) throw SystemError(env, EINVAL, "connect", path);
  memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw SystemError(env, errno, "socket");
  ssize_t n = SendNotify(fd, addr, len, msg, -1);
  if (n < 0) {
    int err = errno;
    close(fd);
    throw SystemError(env, err, "sendmsg", path);
  }
  bool confirmed = false;
  if (barrier_ms > 0) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) == 0) {
      n = SendNotify(fd, addr, len, "BARRIER=1", pipefd[1]);
      close(pipefd[1]);
      if (n >= 0) {
        // The read end reports POLLHUP once every copy of the write end,
        // including the manager's, is closed.
        struct pollfd p = {pipefd[0], POLLIN, 0};
        confirmed = Retry([&] { return poll(&p, 1, barrier_ms); }) > 0 && (p.revents & POLLHUP);
      }
      close(pipefd[0]);
    }
  }
  close(fd);
  return Napi::Boolean::New(env, confirmed);
}

}  // namespace

void InitNotify(Napi::Env env, Napi::Object exports) { exports.Set("sdNotify", Napi::Function::New(env, SdNotify)); }
