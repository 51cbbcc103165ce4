# Sourced by the process launchers beside it: where the processes of one serving set meet.
# Defaults put the web and ws processes on unix sockets under RUN_DIR, reached only through the proxy;
# a deployment sets WEB_BIND / WS_BIND (host:port) and the proxy's WEB_UPSTREAM / WS_UPSTREAM instead.
cd "$(dirname "$0")/../.."
RUN_DIR=${RUN_DIR:-$PWD/var/run}
WEB_BIND=${WEB_BIND:-unix:$RUN_DIR/web.sock}
WS_BIND=${WS_BIND:-unix:$RUN_DIR/ws.sock}
mkdir -p "$RUN_DIR"
export RUN_DIR WEB_BIND WS_BIND
