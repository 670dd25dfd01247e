/*
 * What the helper and the supervisor read in /proc and do with it: a
 * process's stat fields and start time, its caught signals, a process's
 * own children (listed, killed), the processes of a session (killed); a
 * pidfd.
 * Fixed buffers, nothing allocated.
 */
#ifndef NODE_DAEMONIZE_PROC_H
#define NODE_DAEMONIZE_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_stat {
  char state;
  int ppid, pgrp, session;
  unsigned long long start; /* clock ticks after boot; 0 when unreadable */
};

/* Fields of /proc/<pid>/stat; 0, or -1 for a process that is gone. */
int proc_stat_of(long pid, struct proc_stat *ps);

/* A process's start time (clock ticks after boot), or 0. */
uint64_t proc_start_ticks(pid_t pid);

/* A zombie (or dead) state. */
int proc_dead(char state);

/* Does pid catch sig (SigCgt in /proc/<pid>/status)? */
int proc_catches(pid_t pid, int sig);

/* SIGKILL every process of session sid but self, or with pgrp > 0 only
 * that process group's; returns how many live ones it found. */
int proc_kill_in_session(pid_t self, pid_t sid, pid_t pgrp);

/* self's children's pids, from /proc, into kids (at most cap); *whole:
 * the list was read entire (else the rest is found on the next pass). */
size_t proc_children(pid_t self, long *kids, size_t cap, int *whole);

/* SIGKILL to self's children (those listed in one read: the rest on the
 * next call); returns how many were signalled, -1 when the list cannot be
 * read (no /proc). */
int proc_kill_children(pid_t self);

/* self has a child, exited or not (waitid, without reaping it). */
int proc_has_children(void);

/* A pidfd of pid (close-on-exec, as every pidfd is), or -1 with errno:
 * ENOSYS where the kernel or the C library has no pidfd_open. */
int proc_pidfd_open(pid_t pid);

#endif
