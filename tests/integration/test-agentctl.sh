#!/bin/sh
# test-agentctl.sh: the real agentctl against the real daemon, both from
# $OUT, on a private socket in a temporary folder: ping (once and many
# times on one connection), status (readable and --json, which must parse
# and name the daemon's pid), methods, call with and without params, call
# with params that are not JSON (exit 2, nothing sent), an unknown method
# (exit 1 with the daemon's -32601 on stderr), params the daemon refuses
# (exit 1), a socket nobody listens on (exit 3), the socket from
# $AGENTD_SOCKET, the load generator of `make bench` (a short run at two
# depths), and the daemon's clean exit on SIGTERM.  Every command
# runs under a time limit; the daemon is stopped by its pid.
#
# Environment: OUT (the build folder), AGENTD_SRCDIR (the checkout).
set -u

: "${OUT:=build}"
: "${AGENTD_SRCDIR:=$(pwd)}"
AGENTD=$OUT/agentd
AGENTCTL=$OUT/agentctl
LOAD=$OUT/bench/ping-load
PYTHON=/usr/bin/python3
LIMIT=20	# seconds any one command may take

# shellcheck source=scripts/daemon-lib.sh
. "$AGENTD_SRCDIR/scripts/daemon-lib.sh"
dl_init test-agentctl
dl_ready_secs=$LIMIT
dl_stop_secs=$LIMIT
dl_strict_ping=1	# while starting, any ping exit but 3 fails at once

# Runs agentctl with a time limit; its output lands in $tmp/out and
# $tmp/err and its exit status in $rc.
ctl() {
	timeout -k 2 "$LIMIT" "$AGENTCTL" "$@" >"$tmp/out" 2>"$tmp/err" \
	    </dev/null
	rc=$?
}

# Checks the last exit status and that file $2 holds the text $3.
expect() {
	if [ "$rc" -ne "$1" ]; then
		dl_fail "agentctl $args: exit $rc, expected $1; stderr: $(cat "$tmp/err")"
	fi
	if [ $# -ge 3 ] && ! grep -qF -- "$3" "$tmp/$2"; then
		dl_fail "agentctl $args: '$3' not in its std$2: $(cat "$tmp/$2")"
	fi
}

# Runs agentctl -s SOCK with the arguments and records them for messages.
run() {
	args="$*"
	ctl -s "$sock" "$@"
}

for bin in "$AGENTD" "$AGENTCTL" "$LOAD"; do
	[ -x "$bin" ] || dl_fail "$bin is missing (build it first)"
done
[ -x "$PYTHON" ] || dl_fail "$PYTHON is missing (scripts/install-deps)"

tmp=$(mktemp -d /tmp/agentd-ctl-test.XXXXXX) || dl_fail "no temporary folder"
sock=$tmp/agentd.sock
: >"$tmp/agentd.conf"
dl_start "$AGENTD" "$sock" "$tmp/agentd.conf"

# ping
run ping
expect 0 out "pong from $sock: seq=1 time="
run ping 50
expect 0 out "50 pings: min/avg/max = "
[ "$(grep -c 'time=' "$tmp/out")" -eq 50 ] || dl_fail "ping 50 printed $(grep -c 'time=' "$tmp/out") round trips"
run --json ping
expect 0
"$PYTHON" -c 'import json, sys
v = json.load(sys.stdin)
assert v["seq"] == 1 and v["time_ms"] >= 0, v' <"$tmp/out" ||
	dl_fail "ping --json printed $(cat "$tmp/out")"

# status, readable and raw
run status
expect 0 out "$pid"
run --json status
expect 0
"$PYTHON" -c 'import json, sys
v = json.load(sys.stdin)
assert v["pid"] == int(sys.argv[1]), v' "$pid" <"$tmp/out" ||
	dl_fail "status --json is not JSON naming pid $pid: $(cat "$tmp/out")"
[ "$(wc -l <"$tmp/out")" -eq 1 ] || dl_fail "status --json is not one line"

# methods
run methods
for m in daemon.ping daemon.status daemon.methods; do
	expect 0 out "$m"
done
run --json methods
expect 0
"$PYTHON" -c 'import json, sys
v = json.load(sys.stdin)' <"$tmp/out" || dl_fail "methods --json: $(cat "$tmp/out")"

# call
run call daemon.ping
expect 0
run call daemon.ping '{}'
expect 0
echo '{}' >"$tmp/params"
args="call daemon.status - <params"
timeout -k 2 "$LIMIT" "$AGENTCTL" -s "$sock" call daemon.status - \
    <"$tmp/params" >"$tmp/out" 2>"$tmp/err"
rc=$?
expect 0 out "\"pid\": $pid"
run call daemon.ping '{"unterminated": '
expect 2 err "not valid JSON"
run call daemon.ping '{"a": 1, "a": 2}'
expect 2 err "duplicate"
run call no.such.method
expect 1 err "(error -32601)"
run --json call no.such.method
expect 1 err '"code":-32601'
run call daemon.ping 42
expect 1 err "(error -32600)"

# no daemon there; then the socket from the environment
args="-s $tmp/absent.sock ping"
ctl -s "$tmp/absent.sock" ping
expect 3 err "is agentd running?"
args="ping (AGENTD_SOCKET=$sock)"
AGENTD_SOCKET=$sock timeout -k 2 "$LIMIT" "$AGENTCTL" ping >"$tmp/out" \
    2>"$tmp/err" </dev/null
rc=$?
expect 0 out "pong from $sock"

# The load generator of `make bench` drives the daemon, and prints the
# key=value lines scripts/bench/run-bench reads.
args="ping-load -c 4 -n 2000 -P 1,8 -k"
timeout -k 2 "$LIMIT" "$LOAD" -s "$sock" -c 4 -n 2000 -P 1,8 -k \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
expect 0
n=$(grep -cE '^conns=4 depth=(1|8) requests=2000 seconds=[0-9.]+ rps=[0-9]+ p50_ms=[0-9.]+ p99_ms=[0-9.]+ max_ms=[0-9.]+$' "$tmp/out")
[ "$n" -eq 2 ] || dl_fail "ping-load printed: $(cat "$tmp/out")"

# The daemon is still well, and stops cleanly.
dl_alive || dl_fail "agentd died during the test"
dl_stop "$sock"
dl_say ok
