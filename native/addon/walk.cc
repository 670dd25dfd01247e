// The directory walk of src/files/dirwalk.ts in one call: from "/", one
// component at a time, each opened by its name in the directory before it
// (O_PATH|O_NOFOLLOW) and checked before the next is looked up. The rule
// (an ancestor is owned by root or the caller and writable by nobody else
// unless sticky; a symbolic link is followed only when root or the caller
// owns it, at most 40 of them) is the one dirwalk.ts states; this file only
// carries it out, because doing it from JavaScript cost every command
// ~1 ms of cold code for ~15 syscalls (issue 23). What went wrong comes back
// as data ({fail, at, ...}); dirwalk.ts says it in words, as before.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "addon.h"
#include "compat.h"
#include "errors.h"

namespace {

constexpr int kMaxLinks = 40;  // the kernel's own limit (MAXSYMLINKS)
constexpr uint32_t kCreate = 1, kAllowMissing = 2, kReadable = 4;

struct Step {
  int fd;
  std::string name;
};

// Well-formed UTF-8 (no overlong form, no surrogate, nothing above
// U+10FFFF): exactly the names that survive a decode and encode unchanged.
bool IsUtf8(const std::string& s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; k++) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string part = path.substr(i, j - i);
    if (!part.empty() && part != ".") out.push_back(part);
    i = j + 1;
  }
  return out;
}

class Walk {
 public:
  Walk(Napi::Env env, uid_t me) : env_(env), me_(me) {}
  ~Walk() {
    for (const Step& s : stack_) close(s.fd);
  }

  // "/" and the names on the stack: the path walked so far.
  std::string Shown(const std::string& name = std::string()) const {
    std::string out;
    for (size_t i = 1; i < stack_.size(); i++) out += "/" + stack_[i].name;
    if (!name.empty()) out += "/" + name;
    return out.empty() ? "/" : out;
  }

  Napi::Object Fail(const char* kind, const std::string& at) {
    Napi::Object o = Napi::Object::New(env_);
    o.Set("fail", kind);
    o.Set("at", at);
    return o;
  }
  Napi::Object FailErrno(const char* kind, const std::string& at, int err, const char* syscall, const std::string& name) {
    Napi::Object o = Fail(kind, at);
    o.Set("error", SystemError(env_, err, syscall, name).Value());
    return o;
  }
  Napi::Object FailUid(const char* kind, const std::string& at, uid_t uid) {
    Napi::Object o = Fail(kind, at);
    o.Set("uid", static_cast<double>(uid));
    return o;
  }

  Napi::Value Run(const std::string& path, uint32_t flags, mode_t between, mode_t last_mode) {
    std::vector<std::string> todo = Components(path);
    int links = 0;
    bool created = false;
    int root = Retry([&] { return open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
    if (root < 0) return FailErrno("root", "/", errno, "open", "/");
    stack_.push_back({root, ""});
    size_t next = 0;
    while (next < todo.size()) {
      std::string part = todo[next++];
      if (part == "..") {
        // The physical parent: the step before, from which this one was opened.
        if (stack_.size() > 1) {
          close(stack_.back().fd);
          stack_.pop_back();
        }
        continue;
      }
      int top = stack_.back().fd;
      std::string here = Shown(part);
      bool last = next == todo.size();
      bool made = false;
      int fd = Retry([&] { return openat(top, part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC); });
      if (fd < 0) {
        int err = errno;
        if (err == ENOENT && (flags & kCreate)) {
          mode_t mode = last ? last_mode : between;
          if (Retry([&] { return mkdirat(top, part.c_str(), mode); }) == 0) {
            made = true;
          } else if (errno != EEXIST) {
            return FailErrno("create", here, errno, "mkdirat", part);
          }
          fd = Retry([&] { return openat(top, part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC); });
          if (fd < 0) return FailErrno("create", here, errno, "openat", part);
        } else if (err == ENOENT && (flags & kAllowMissing)) {
          return Fail("missing", here);
        } else {
          return FailErrno("open", here, err, "openat", part);
        }
      }
      struct stat st;
      if (nd_fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return FailErrno("stat", here, err, "fstat", here);
      }
      if (S_ISLNK(st.st_mode)) {
        if (st.st_uid != 0 && st.st_uid != me_) {
          close(fd);
          return FailUid("link-owner", here, st.st_uid);
        }
        if (++links > kMaxLinks) {
          close(fd);
          return Fail("loop", path);
        }
        char buf[PATH_MAX];
        ssize_t n = Retry([&] { return readlinkat(fd, "", buf, sizeof buf); });
        int err = n < 0 ? errno : static_cast<size_t>(n) >= sizeof buf ? ENAMETOOLONG : 0;
        close(fd);
        if (err != 0) return FailErrno("readlink", here, err, "readlinkat", "");
        std::string target(buf, static_cast<size_t>(n));
        if (!IsUtf8(target)) return Fail("not-utf8", here);
        if (!target.empty() && target[0] == '/') {
          while (stack_.size() > 1) {
            close(stack_.back().fd);
            stack_.pop_back();
          }
        }
        std::vector<std::string> parts = Components(target);
        todo.insert(todo.begin() + static_cast<long>(next), parts.begin(), parts.end());
        continue;
      }
      if (!S_ISDIR(st.st_mode)) {
        close(fd);
        return Fail("not-dir", here);
      }
      // The last one is checked once the walk has ended: a link there still leads on.
      if (!last) {
        const char* why = Ancestor(st);
        if (why != nullptr) {
          close(fd);
          return FailUid(why, here, st.st_uid);
        }
      }
      stack_.push_back({fd, part});
      created = made && last;
    }
    Step at = stack_.back();
    std::string where = Shown();
    struct stat st;
    if (nd_fstat(at.fd, &st) != 0) return FailErrno("stat", where, errno, "fstat", where);
    int fd = at.fd;
    if ((flags & kReadable) && stack_.size() > 1) {
      // The directory again, O_RDONLY: it must be the one just checked.
      int parent = stack_[stack_.size() - 2].fd;
      fd = Retry([&] { return openat(parent, at.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY); });
      if (fd < 0) return FailErrno("open", where, errno, "openat", where);
      struct stat again;
      if (nd_fstat(fd, &again) != 0 || again.st_dev != st.st_dev || again.st_ino != st.st_ino) {
        close(fd);
        return Fail("replaced", where);
      }
    } else {
      stack_.pop_back();  // handed to the caller, not closed here
    }
    Napi::Object o = Napi::Object::New(env_);
    o.Set("fd", static_cast<double>(fd));
    o.Set("path", where);
    o.Set("created", created);
    o.Set("mode", static_cast<double>(st.st_mode));
    o.Set("uid", static_cast<double>(st.st_uid));
    o.Set("dev", static_cast<double>(st.st_dev));
    o.Set("ino", static_cast<double>(st.st_ino));
    return o;
  }

 private:
  // An ancestor: a directory owned by root or the caller, writable by nobody else unless sticky.
  const char* Ancestor(const struct stat& st) const {
    if (st.st_uid != 0 && st.st_uid != me_) return "owner";
    if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0) return "writable";
    return nullptr;
  }

  Napi::Env env_;
  uid_t me_;
  std::vector<Step> stack_;
};

// walkDir(path: string, me: number, flags: number, between: number, last: number)
//   -> { fd, path, created, mode, uid, dev, ino }
//    | { fail: 'root'|'open'|'create'|'stat'|'readlink', at, error }
//    | { fail: 'missing'|'loop'|'not-utf8'|'not-dir'|'replaced', at }
//    | { fail: 'link-owner'|'owner'|'writable', at, uid }
// flags: 1 create missing directories (mode `between` on the way, `last`
// for the last one), 2 a missing one is {fail: 'missing'}, 4 the last one
// opened O_RDONLY (else O_PATH). The last directory is not held to the
// ancestor rule here: the caller checks it (its own rule), from the fields.
Napi::Value WalkDir(const Napi::CallbackInfo& info) {
  const char* usage = "walkDir(path: string, me: number, flags: number, between: number, last: number)";
  std::string path = StringArg(info, 0, usage);
  int32_t me = IntArg(info, 1, usage);
  uint32_t flags = UintArg(info, 2, usage);
  uint32_t between = UintArg(info, 3, usage);
  uint32_t last = UintArg(info, 4, usage);
  if (path.find('\0') != std::string::npos || between > 07777 || last > 07777 || flags > 7) throw UsageError(info.Env(), usage);
  Walk walk(info.Env(), static_cast<uid_t>(me));
  return walk.Run(path, flags, static_cast<mode_t>(between), static_cast<mode_t>(last));
}

}  // namespace

void InitWalk(Napi::Env env, Napi::Object exports) {
  exports.Set("walkDir", Napi::Function::New(env, WalkDir, "walkDir"));
}
