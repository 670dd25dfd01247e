#!/bin/sh
### BEGIN INIT INFO
# Provides:          hello-server
# Required-Start:    $remote_fs $network
# Required-Stop:     $remote_fs $network
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: hello-server, supervised by node-daemonize --respawn
### END INIT INFO
#
# An LSB init script for a Node.js service restarted by node-daemonize's
# supervisor. The pid file names the supervisor, so `kill -TERM $(cat
# $PIDFILE)` (or start-stop-daemon --stop --pidfile) stops the service; it
# never provokes a respawn. `graceful` hands over to the code now on disk
# without a moment where nobody serves (the sockets come from --listen and
# stay with the supervisor); a bare `kill -USR2 $(cat $PIDFILE)` asks the
# same, without waiting for the outcome.

NAME=hello-server
ENTRY=/opt/hello/hello-server.js
PIDFILE=/run/$NAME.pid
LOGFILE=/var/log/$NAME.log
USER=nobody
ND=node-daemonize

start() {
  $ND start "$ENTRY" --pid-file "$PIDFILE" --log-file "$LOGFILE" --user "$USER" \
    --listen tcp:8080 --wait-ready 30s --respawn on-failure --respawn-limit 5/60s --stop-timeout 10s \
    --ok-if-running
}

case "$1" in
  start) start ;;
  stop) $ND stop --pid-file "$PIDFILE" ;;
  restart|force-reload) $ND stop --pid-file "$PIDFILE" && start ;;
  graceful)
    # 0: the new code serves; 1: it did not start, the old keeps serving;
    # 3: no verdict yet (the hand-over goes on; status tells). LSB reads 3 from
    # an action as "unimplemented", so it is passed on as 1 (unspecified).
    $ND restart --graceful --pid-file "$PIDFILE"
    rc=$?; [ "$rc" -eq 3 ] && exit 1; exit "$rc" ;;
  reload) $ND reload --pid-file "$PIDFILE" ;;  # logrotate's postrotate: the supervisor and the daemon reopen the log
  status) $ND status --pid-file "$PIDFILE"; exit $? ;;  # LSB: 0 running, 1 failed/dead, 3 stopped
  *) echo "Usage: $0 {start|stop|restart|force-reload|graceful|reload|status}" >&2; exit 2 ;;
esac
