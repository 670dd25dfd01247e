/*
 * Writing status records (see records.h).
 */
#define _GNU_SOURCE
#include "records.h"

#include <string.h>
#include <unistd.h>

#include "protocol.h"
#include "retry.h"

int daemon_send_record(int fd, int stage, int sys, int err, int64_t value) {
  struct nd_record r;
  memset(&r, 0, sizeof r);
  r.stage = (uint16_t)stage;
  r.syscall = (uint16_t)sys;
  r.err = err;
  r.value = value;
  return RETRY(write(fd, &r, sizeof r)) == (ssize_t)sizeof r ? 0 : -1;
}

void helper_report(int stage, int sys, int err, int64_t value) {
  (void)daemon_send_record(ND_HELPER_FD_STATUS, stage, sys, err, value);
}
