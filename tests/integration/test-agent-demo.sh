#!/bin/sh
# test-agent-demo.sh: `make demo` end to end (scripts/demo on the
# binaries in $OUT), on the fixture model tests/fixtures/models/
# llama-q8_0.gguf so that it takes seconds whatever model is bundled.
# The demo must exit 0 and show the whole machinery: the ping, the
# model from models.list, the tools, an agent run through `agentctl run`
# with its steps (a step header, the model's text, an observation), the
# ending, the trace it left and the daemon's clean stop.  Then the other
# way: given a file that is not a model, the demo must fail (exit 1) and
# say why, so that a broken machine never passes for a working one.
#
# Environment: OUT (the build folder), AGENTD_SRCDIR (the checkout).
set -u

: "${OUT:=build}"
: "${AGENTD_SRCDIR:=$(pwd)}"
me=test-agent-demo
LIMIT=300	# seconds the demo may take (a sanitizer build is slower)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agentd-demo-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM

fail() {
	echo "$me: FAIL: $*" >&2
	if [ -s "$tmp/demo.out" ]; then
		echo "$me: the demo's output:" >&2
		sed 's/^/  /' "$tmp/demo.out" >&2
	fi
	exit 1
}

# expect TEXT: the demo's output holds TEXT (a fixed string).
expect() {
	grep -qF -- "$1" "$tmp/demo.out" || fail "the demo's output lacks '$1'"
}

for f in "$OUT/agentd" "$OUT/agentctl"; do
	[ -x "$f" ] || fail "$f is not built"
done
model=$AGENTD_SRCDIR/tests/fixtures/models/llama-q8_0.gguf
[ -f "$model" ] || fail "$model is missing"

OUT=$OUT AGENTD_DEMO_MODEL=$model timeout -k 5 "$LIMIT" \
    sh "$AGENTD_SRCDIR/scripts/demo" >"$tmp/demo.out" 2>&1
rc=$?
[ $rc -eq 0 ] || fail "the demo exited $rc"
expect "pong from"
expect "demo: the model: a fixture model"
expect '"kind": "local"'
expect "calc "
expect "agentctl run"
expect "-- step 1"
expect "Observation: "
expect "steps, prompt tokens"
grep -qE '^demo: (the agent answered|the run ended as)' "$tmp/demo.out" ||
    fail "the demo did not report how the run ended"
grep -qE 'the trace holds [1-9][0-9]* spans' "$tmp/demo.out" ||
    fail "the demo did not report the run's trace"
expect "agentd exited 0 and removed its socket"
echo "$me: the demo ran an agent end to end on $model"

# A file that is not a model: the daemon starts without one, and the
# demo must say so and fail.
printf 'not a model\n' >"$tmp/bogus.gguf"
OUT=$OUT AGENTD_DEMO_MODEL=$tmp/bogus.gguf timeout -k 5 "$LIMIT" \
    sh "$AGENTD_SRCDIR/scripts/demo" >"$tmp/demo.out" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "the demo exited $rc without a model; 1 was expected"
expect "the daemon has no model"
expect "bogus.gguf"
echo "$me: without a model the demo fails and says why"
exit 0
