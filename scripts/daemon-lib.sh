# shellcheck shell=sh
# daemon-lib.sh: what the shell tests and scripts that drive a real
# agentd share: starting it in the background on a private socket,
# waiting until it answers, stopping it by its pid with SIGTERM and
# checking that it exited 0, and on every exit killing it (by its pid
# only) and removing the temporary folder.  POSIX sh; sourced, never run:
#
#	. "$AGENTD_SRCDIR/scripts/daemon-lib.sh"
#	dl_init my-test
#	tmp=$(mktemp -d /tmp/agentd-my-test.XXXXXX) || dl_fail "no temporary folder"
#	dl_start "$AGENTD" "$tmp/agentd.sock" "$tmp/agentd.conf"
#	...
#	dl_stop "$tmp/agentd.sock"
#
# Functions:
#   dl_init NAME    names the caller in messages (dl_name), clears pid and
#                   tmp, sets the defaults below that are still unset, and
#                   installs dl_cleanup as the EXIT trap; HUP, INT and
#                   TERM exit 129, 130 and 143 (through that trap).
#   dl_say MSG...   prints "NAME: MSG" on standard output.
#   dl_fail MSG...  prints "NAME: FAIL: MSG" on standard error (the word
#                   is dl_failword), then the last dl_log_lines lines of
#                   $tmp/agentd.log under "NAME: the daemon's log:" (the
#                   title is dl_log_title) when that file is not empty;
#                   exits 1.
#   dl_alive        true while the daemon $pid runs.  An exited child
#                   stays a zombie until it is waited for, and kill -0
#                   still reaches a zombie, so it reads the state in
#                   /proc/$pid/stat.
#   dl_cleanup      kills $pid with SIGKILL and waits for it when pid is
#                   set, removes $tmp when it is set.
#   dl_start AGENTD SOCK CONF [ARG...]
#                   runs AGENTD -s SOCK -c CONF ARG... in the background,
#                   its standard error in $tmp/agentd.log, sets pid, and
#                   waits up to dl_ready_secs for `$AGENTCTL -s SOCK ping`
#                   to answer (agentctl's own output goes to $tmp/ping.out
#                   and $tmp/ping.err).  Fails when the daemon exits first
#                   (naming its status), when it does not answer in time,
#                   or, with dl_strict_ping=1, when a ping fails with any
#                   exit other than 3 (nobody there yet).
#   dl_stop [SOCK]  sends SIGTERM to $pid, waits up to dl_stop_secs for it
#                   to exit, clears pid and fails unless it exited 0; with
#                   SOCK, also fails when SOCK is still there.
#
# Variables the caller sets (before or after dl_init):
#   tmp             the temporary folder (the caller makes it after
#                   dl_init); dl_start needs it.
#   AGENTCTL        the agentctl binary dl_start pings with.
#   dl_failword     the word after "NAME: " in dl_fail (FAIL).
#   dl_log_lines    how many of the log's last lines dl_fail shows; 0 for
#                   all of them (30).
#   dl_log_title    the title above them ("the daemon's log").
#   dl_ready_secs   how long dl_start waits for an answer (30).
#   dl_stop_secs    how long dl_stop waits for the exit (30).
#   dl_strict_ping  1: dl_start fails on a ping's exit other than 0 or 3
#                   (0).
# Variables it sets: dl_name; pid (the daemon's, empty when none runs).
# Its own scratch variables and its helper dl_tick all start with dl_.

dl_init() {
	dl_name=$1
	pid=""
	tmp=""
	: "${dl_failword:=FAIL}"
	: "${dl_log_lines:=30}"
	[ -n "${dl_log_title:-}" ] || dl_log_title="the daemon's log"
	: "${dl_ready_secs:=30}"
	: "${dl_stop_secs:=30}"
	: "${dl_strict_ping:=0}"
	trap dl_cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

dl_say() {
	printf '%s\n' "$dl_name: $*"
}

dl_fail() {
	dl_say "$dl_failword: $*" >&2
	if [ -n "$tmp" ] && [ -s "$tmp/agentd.log" ]; then
		echo "$dl_name: $dl_log_title:" >&2
		if [ "$dl_log_lines" -gt 0 ]; then
			tail -n "$dl_log_lines" "$tmp/agentd.log"
		else
			cat "$tmp/agentd.log"
		fi | sed 's/^/  /' >&2
	fi
	exit 1
}

dl_alive() {
	[ -n "$pid" ] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	dl_state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$pid/stat" 2>/dev/null) ||
		return 1
	[ "$dl_state" != Z ]
}

dl_cleanup() {
	if [ -n "$pid" ]; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		pid=""
	fi
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}

# Counts down dl_tries: fails with MSG when they run out, else sleeps a
# tenth of a second.
dl_tick() {
	dl_tries=$((dl_tries - 1))
	[ "$dl_tries" -gt 0 ] || dl_fail "$@"
	sleep 0.1
}

dl_start() {
	[ -n "$tmp" ] || dl_fail "dl_start: tmp, the temporary folder, is not set"
	dl_agentd=$1
	dl_sock=$2
	dl_conf=$3
	shift 3
	"$dl_agentd" -s "$dl_sock" -c "$dl_conf" "$@" 2>"$tmp/agentd.log" &
	pid=$!
	dl_tries=$((dl_ready_secs * 10))
	while :; do
		if ! dl_alive; then
			wait "$pid"
			dl_rc=$?
			pid=""
			dl_fail "agentd exited with status $dl_rc before it answered"
		fi
		timeout -k 2 10 "$AGENTCTL" -s "$dl_sock" -t 1000 ping \
		    >"$tmp/ping.out" 2>"$tmp/ping.err" </dev/null
		dl_rc=$?
		[ "$dl_rc" -eq 0 ] && return 0
		if [ "$dl_strict_ping" = 1 ] && [ "$dl_rc" -ne 3 ]; then
			dl_fail "ping while starting: exit $dl_rc:" \
			    "$(cat "$tmp/ping.err")"
		fi
		dl_tick "agentd (pid $pid) did not answer on $dl_sock" \
		    "within ${dl_ready_secs}s"
	done
}

# shellcheck disable=SC2120 # SOCK is optional
dl_stop() {
	kill -TERM "$pid" || dl_fail "cannot signal pid $pid"
	dl_tries=$((dl_stop_secs * 10))
	while dl_alive; do
		dl_tick "agentd (pid $pid) still runs ${dl_stop_secs}s" \
		    "after SIGTERM"
	done
	wait "$pid"
	dl_rc=$?
	pid=""
	if [ "$dl_rc" -ne 0 ]; then
		dl_fail "agentd exited with status $dl_rc after SIGTERM;" \
		    "0 was expected"
	fi
	if [ $# -ge 1 ] && [ -e "$1" ]; then
		dl_fail "agentd exited but left its socket $1 behind"
	fi
}
