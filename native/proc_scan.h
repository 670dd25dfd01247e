/*
 * What the supervisor reads in /proc to find leftovers (leftovers.c): a
 * process's stat fields, its own children, the processes of a session.
 */
#ifndef NODE_DAEMONIZE_PROC_SCAN_H
#define NODE_DAEMONIZE_PROC_SCAN_H

#include <stddef.h>
#include <sys/types.h>

struct proc_stat {
  char state;
  int ppid, pgrp, session;
  unsigned long long start; /* clock ticks after boot; 0 when unreadable */
};

/* Fields of /proc/<pid>/stat; 0, or -1 for a process that is gone. */
int proc_stat_of(long pid, struct proc_stat *ps);

/* A zombie (or dead) state. */
int proc_dead(char state);

/* SIGKILL every process of session sid but self, or with pgrp > 0 only
 * that process group's; returns how many live ones it found. */
int proc_kill_in_session(pid_t self, pid_t sid, pid_t pgrp);

/* self's children's pids, from /proc, into kids (at most cap); *whole:
 * the list was read entire (else the rest is found on the next pass). */
size_t proc_children(pid_t self, long *kids, size_t cap, int *whole);

/* self has a child, exited or not (waitid, without reaping it). */
int proc_has_children(void);

#endif
