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
me=test-agentctl
AGENTD=$OUT/agentd
AGENTCTL=$OUT/agentctl
LOAD=$OUT/bench/ping-load
PYTHON=/usr/bin/python3
LIMIT=20	# seconds any one command may take

pid=""
tmp=""

cleanup() {
	if [ -n "$pid" ]; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 2' HUP INT TERM

fail() {
	echo "$me: FAIL: $*" >&2
	if [ -n "$tmp" ] && [ -s "$tmp/agentd.log" ]; then
		echo "$me: the daemon's log:" >&2
		tail -n 30 "$tmp/agentd.log" | sed 's/^/  /' >&2
	fi
	exit 1
}

# True while the daemon runs (a zombie does not count).
alive() {
	[ -n "$pid" ] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$pid/stat" 2>/dev/null) ||
		return 1
	[ "$state" != Z ]
}

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
		fail "agentctl $args: exit $rc, expected $1; stderr: $(cat "$tmp/err")"
	fi
	if [ $# -ge 3 ] && ! grep -qF -- "$3" "$tmp/$2"; then
		fail "agentctl $args: '$3' not in its std$2: $(cat "$tmp/$2")"
	fi
}

# Runs agentctl -s SOCK with the arguments and records them for messages.
run() {
	args="$*"
	ctl -s "$sock" "$@"
}

for bin in "$AGENTD" "$AGENTCTL" "$LOAD"; do
	[ -x "$bin" ] || fail "$bin is missing (build it first)"
done
[ -x "$PYTHON" ] || fail "$PYTHON is missing (scripts/install-deps)"

tmp=$(mktemp -d /tmp/agentd-ctl-test.XXXXXX) || fail "no temporary folder"
sock=$tmp/agentd.sock
: >"$tmp/agentd.conf"
"$AGENTD" -s "$sock" -c "$tmp/agentd.conf" 2>"$tmp/agentd.log" &
pid=$!

n=$((LIMIT * 10))
while :; do
	alive || fail "agentd exited before it answered"
	ctl -s "$sock" -t 1000 ping
	[ "$rc" -eq 0 ] && break
	[ "$rc" -eq 3 ] || fail "ping while starting: exit $rc: $(cat "$tmp/err")"
	n=$((n - 1))
	[ "$n" -gt 0 ] || fail "agentd did not answer within ${LIMIT}s"
	sleep 0.1
done

# ping
run ping
expect 0 out "pong from $sock: seq=1 time="
run ping 50
expect 0 out "50 pings: min/avg/max = "
[ "$(grep -c 'time=' "$tmp/out")" -eq 50 ] || fail "ping 50 printed $(grep -c 'time=' "$tmp/out") round trips"
run --json ping
expect 0
"$PYTHON" -c 'import json, sys
v = json.load(sys.stdin)
assert v["seq"] == 1 and v["time_ms"] >= 0, v' <"$tmp/out" ||
	fail "ping --json printed $(cat "$tmp/out")"

# status, readable and raw
run status
expect 0 out "$pid"
run --json status
expect 0
"$PYTHON" -c 'import json, sys
v = json.load(sys.stdin)
assert v["pid"] == int(sys.argv[1]), v' "$pid" <"$tmp/out" ||
	fail "status --json is not JSON naming pid $pid: $(cat "$tmp/out")"
[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "status --json is not one line"

# methods
run methods
for m in daemon.ping daemon.status daemon.methods; do
	expect 0 out "$m"
done
run --json methods
expect 0
"$PYTHON" -c 'import json, sys
v = json.load(sys.stdin)' <"$tmp/out" || fail "methods --json: $(cat "$tmp/out")"

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
[ "$n" -eq 2 ] || fail "ping-load printed: $(cat "$tmp/out")"

# The daemon is still well, and stops cleanly.
alive || fail "agentd died during the test"
kill -TERM "$pid"
n=$((LIMIT * 10))
while alive; do
	n=$((n - 1))
	[ "$n" -gt 0 ] || fail "agentd still runs ${LIMIT}s after SIGTERM"
	sleep 0.1
done
wait "$pid"
rc=$?
pid=""
[ "$rc" -eq 0 ] || fail "agentd exited $rc after SIGTERM"
[ ! -e "$sock" ] || fail "agentd left $sock behind"
echo "$me: ok"
