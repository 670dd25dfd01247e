// Calls whose glibc symbols are newer than the prebuilds' floor (glibc 2.28,
// Node's own): fstat/lstat became versioned functions in glibc 2.33, so they
// go straight to the kernel (newfstatat, whose struct is glibc's struct stat
// on x86_64 and aarch64).
#ifndef NODE_DAEMONIZE_COMPAT_H
#define NODE_DAEMONIZE_COMPAT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__linux__) && defined(SYS_newfstatat)
inline int nd_fstat(int fd, struct stat* st) {
  return static_cast<int>(syscall(SYS_newfstatat, fd, "", st, AT_EMPTY_PATH));
}
inline int nd_lstat(const char* path, struct stat* st) {
  return static_cast<int>(syscall(SYS_newfstatat, AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW));
}
// fstatat(dirfd, name, st, 0): the entry, a symbolic link followed.
inline int nd_statat(int dirfd, const char* name, struct stat* st) {
  return static_cast<int>(syscall(SYS_newfstatat, dirfd, name, st, 0));
}
#else
inline int nd_fstat(int fd, struct stat* st) { return fstat(fd, st); }
inline int nd_lstat(const char* path, struct stat* st) { return lstat(path, st); }
inline int nd_statat(int dirfd, const char* name, struct stat* st) { return fstatat(dirfd, name, st, 0); }
#endif

#endif
