/*
 * Per-generation cgroups (v2) for the supervisor: what a generation and
 * everything it starts run in, so that what it leaves behind is found
 * exactly, whatever it did (setsid, double forks, reparenting), and killed
 * at once with cgroup.kill. leftovers.c decides when; this file only knows
 * the cgroup filesystem. Nothing here allocates; every fd is O_CLOEXEC.
 *
 * Layout (docs/supervision.md, "What a generation leaves behind"):
 *   <the supervisor's own cgroup>/            the supervisor stays here
 *     nd-<label>-<hash>-<supervisor pid>/     the service's cgroup (no process of its own)
 *       g1/ g2/ ...                           one per generation, in fork order
 * No controller is enabled anywhere (subtree_control stays empty), so the
 * "no internal processes" rule never applies: the supervisor can stay in
 * its own cgroup beside the one it makes, and its caller's accounting and
 * limits (a systemd unit's, a container's) keep covering all of it.
 */
#ifndef NODE_DAEMONIZE_CGROUP_H
#define NODE_DAEMONIZE_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

struct cgroup_tree {
  int parent;        /* the supervisor's own cgroup, a directory fd; -1: none */
  int service;       /* the service's cgroup, made in parent; -1: none */
  char name[96];     /* the service cgroup's name in parent */
  char path[512];    /* its path from the cgroup2 root (for the log), cut if longer */
  char dir[512];     /* its absolute path, mount point and all (for the state record); "" if longer */
  uint64_t id;       /* its inode number, the cgroup id (for the state record) */
  uint32_t made;     /* generation cgroups made so far (the last one is g<made>) */
  const char *step;  /* setup: the step that failed */
};

/* Makes the service's cgroup under the supervisor's own and checks that
 * a generation can be cloned into a cgroup of it and killed there (a
 * probe: clone3 with CLONE_INTO_CGROUP of a child that exits at once, and
 * cgroup.kill present). pidfile: names the service (the cgroup's label);
 * a predecessor's empty cgroups for the same pid file are removed first.
 * Returns 0, or an errno with t->step set (nothing is left made then). */
int cgroup_setup(struct cgroup_tree *t, const char *pidfile, pid_t self);

/* Makes the next generation's cgroup; returns its directory fd (the
 * argument of cgroup_clone_into, cgroup_kill...) with *number set, or -errno. */
int cgroup_make(struct cgroup_tree *t, uint32_t *number);

/* fork(), but the child starts in the cgroup dir (clone3 with
 * CLONE_INTO_CGROUP): it never runs a single instruction outside it.
 * Returns as fork() does. */
pid_t cgroup_clone_into(int dir);

/* SIGKILL to every process in the cgroup dir and below (cgroup.kill: the
 * kernel also kills what is being forked meanwhile). Returns 0 or an errno. */
int cgroup_kill(int dir);

/* 1 while a process is in the cgroup dir or below, 0 when not, -1 when
 * unknown (cgroup.events unreadable). */
int cgroup_populated(int dir);

/* Waits until the cgroup dir is empty, calling tick between looks (the
 * supervisor reaps there), until deadline (monotonic ms). Returns 1 when
 * empty. */
int cgroup_wait_empty(int dir, int64_t deadline, void (*tick)(void));

/* Removes generation cgroup g<number> (empty, or the kernel refuses:
 * EBUSY). Returns 0 or an errno. */
int cgroup_remove(struct cgroup_tree *t, uint32_t number);

/* Removes every generation cgroup that is empty, then the service's own;
 * closes the fds. What is still populated stays (and so does the service
 * cgroup then). */
void cgroup_teardown(struct cgroup_tree *t);

#endif
