/*
 * A directory's entries through getdents64 into the caller's buffer (no
 * opendir: it allocates), for /proc (proc.c) and the cgroup filesystem
 * (cgroup.c):
 *
 *   struct dirents d = {fd, buf, sizeof buf};
 *   const char *name;
 *   unsigned char type;
 *   while ((name = dirents_next(&d, &type)) != NULL) ...
 */
#ifndef NODE_DAEMONIZE_DIRENTS_H
#define NODE_DAEMONIZE_DIRENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

struct dirents {
  int fd;      /* the directory, open */
  char *buf;   /* where the entries are read */
  size_t cap;
  long n, off; /* bytes in buf, the next entry; both 0 to start */
};

/* The next entry's name (valid until the next call) and its d_type, or
 * NULL at the end (or on an error). */
static inline const char *dirents_next(struct dirents *d, unsigned char *type) {
  if (d->off >= d->n) {
    d->n = syscall(SYS_getdents64, d->fd, d->buf, d->cap);
    d->off = 0;
    if (d->n <= 0) return NULL;
  }
  struct {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
  } *e = (void *)(d->buf + d->off);
  d->off += e->reclen;
  *type = e->type;
  return e->name;
}

#endif
