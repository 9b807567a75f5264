#!/bin/sh
# test-trace-daemon.sh: traces through the real daemon and agentctl, on
# the scripted backend in a temporary folder: one run that answers and
# one that fails, then `agentctl trace show` (the tree with kinds,
# timings and tokens), `trace list` and its filters (agent, outcome,
# since, limit), `trace export` (OTLP/JSON: hex ids, integer kinds,
# string times, typed attributes, error status), unknown and malformed
# ids (exit 1 with the daemon's error), and the trace_fsync and
# retention directives, including a bad trace_fsync value refused with
# its file and line.  With TRACE_OTLP_PROTO set to a folder of compiled
# OTLP protos (test-trace-otlp.sh), the export is also parsed strictly
# with protobuf's json_format.  The daemon is stopped by its pid.
#
# Environment: OUT (the build folder), AGENTD_SRCDIR (the checkout).
set -u

: "${OUT:=build}"
: "${AGENTD_SRCDIR:=$(pwd)}"
AGENTD=$OUT/agentd
AGENTCTL=$OUT/agentctl
PYTHON=/usr/bin/python3
LIMIT=20

# shellcheck source=scripts/daemon-lib.sh
. "$AGENTD_SRCDIR/scripts/daemon-lib.sh"
dl_init test-trace-daemon
dl_ready_secs=$LIMIT
dl_stop_secs=$LIMIT

# Runs agentctl -s SOCK with a time limit: $tmp/out, $tmp/err, $rc.
run() {
	args="$*"
	timeout -k 2 "$LIMIT" "$AGENTCTL" -s "$sock" "$@" >"$tmp/out" \
	    2>"$tmp/err" </dev/null
	rc=$?
}

expect() {
	if [ "$rc" -ne "$1" ]; then
		dl_fail "agentctl $args: exit $rc, expected $1; stderr: $(cat "$tmp/err")"
	fi
	if [ $# -ge 3 ] && ! grep -qF -- "$3" "$tmp/$2"; then
		dl_fail "agentctl $args: '$3' not in its std$2: $(cat "$tmp/$2")"
	fi
}

for bin in "$AGENTD" "$AGENTCTL"; do
	[ -x "$bin" ] || dl_fail "$bin is missing (build it first)"
done
[ -x "$PYTHON" ] || dl_fail "$PYTHON is missing (scripts/install-deps)"

tmp=$(mktemp -d /tmp/agentd-trace-test.XXXXXX) || dl_fail "no temporary folder"
sock=$tmp/agentd.sock

# A bad trace_fsync is refused with its file and line.
printf 'trace_dir %s/traces\ntrace_fsync sometimes\n' "$tmp" >"$tmp/bad.conf"
timeout -k 2 "$LIMIT" "$AGENTD" -s "$sock" -c "$tmp/bad.conf" \
    2>"$tmp/bad.log" </dev/null
[ $? -ne 0 ] || dl_fail "agentd accepted trace_fsync sometimes"
grep -qF "bad.conf:2" "$tmp/bad.log" ||
	dl_fail "trace_fsync sometimes: no FILE:LINE in $(cat "$tmp/bad.log")"

# The first conversation answers; the one matching "fail" never does.
cat >"$tmp/script.json" <<'JSON'
{"model": "scripted",
 "scripts": [
  {"match": "please fail", "outputs": [{"error": "the model broke"}]},
  {"outputs": ["Thought: two and two\nFinal Answer: 4\n"]}]}
JSON
mkdir "$tmp/agents"
# An old trace file that retention (a day) must remove at start.
mkdir "$tmp/traces"
old=$tmp/traces/0123456789abcdef0123456789abcdef.jsonl
printf '\n' >"$old"
touch -d '3 days ago' "$old"
cat >"$tmp/agentd.conf" <<CONF
scripted_model $tmp/script.json
trace_dir $tmp/traces
trace_fsync always
trace_max_age 86400
trace_max_bytes 10m
agents_dir $tmp/agents
CONF
dl_start "$AGENTD" "$sock" "$tmp/agentd.conf"
[ ! -e "$old" ] || dl_fail "retention left a three-day-old trace file"

# Two runs: one answers, one fails.
run --json run "what is 2+2"
expect 0
ok_id=$("$PYTHON" -c 'import json, sys
lines = [json.loads(l) for l in sys.stdin if l.strip()]
print(lines[-1]["trace_id"])' <"$tmp/out") ||
	dl_fail "run --json: no trace_id in $(cat "$tmp/out")"
run --json run "please fail"
err_id=$("$PYTHON" -c 'import json, sys
for l in sys.stdin:
    if l.strip():
        v = json.loads(l)
        if "trace_id" in v:
            print(v["trace_id"]); break' <"$tmp/out")
[ -n "$err_id" ] || err_id=$(ls -t "$tmp/traces" | grep -v "^$ok_id" |
    head -n 1 | sed 's/\.jsonl$//')
[ -n "$err_id" ] || dl_fail "the failing run left no trace"
[ "$err_id" != "$ok_id" ] || dl_fail "two runs share trace $ok_id"

# trace show: the tree with kinds, timings and tokens.
run trace show "$ok_id"
expect 0 out "trace $ok_id:"
expect 0 out "invoke_agent"
expect 0 out "[run]"
expect 0 out "[llm]"
expect 0 out "out="
grep -q 'ms ' "$tmp/out" || dl_fail "trace show has no timings: $(cat "$tmp/out")"
grep -q '`- ' "$tmp/out" || dl_fail "trace show draws no tree: $(cat "$tmp/out")"
run trace show "$err_id"
expect 0 out "ERROR: "

# trace list and its filters.
run --json trace list
expect 0
"$PYTHON" - "$tmp/out" "$ok_id" "$err_id" <<'PY' || dl_fail "trace list --json: $(cat "$tmp/out")"
import json, sys
v = json.load(open(sys.argv[1]))
t = {x["trace_id"]: x for x in v["traces"]}
ok, err = t[sys.argv[2]], t[sys.argv[3]]
assert ok["outcome"] == "ok" and err["outcome"] == "error", v
assert ok["agent"] == "react" and ok["span_count"] >= 3, ok
assert ok["output_tokens"] > 0 and ok["end_ns"] >= ok["start_ns"], ok
assert v["truncated"] is False
PY
run --json trace list --outcome error
expect 0
grep -qF "$err_id" "$tmp/out" || dl_fail "--outcome error lost $err_id"
grep -qF "$ok_id" "$tmp/out" && dl_fail "--outcome error listed $ok_id"
run --json trace list --agent nobody
expect 0
grep -qF "$ok_id" "$tmp/out" && dl_fail "--agent nobody listed $ok_id"
run --json trace list --since 3600 --limit 1
expect 0
"$PYTHON" -c 'import json, sys
v = json.load(sys.stdin)
assert len(v["traces"]) == 1 and v["truncated"] is True, v' <"$tmp/out" ||
	dl_fail "--limit 1: $(cat "$tmp/out")"
run trace list
expect 0 out "$ok_id"
run trace list --outcome maybe
expect 1
run trace list --limit
expect 2

# trace export: OTLP/JSON.
run trace export "$ok_id" "$err_id"
expect 0
cp "$tmp/out" "$tmp/export.json"
"$PYTHON" - "$tmp/export.json" "$ok_id" <<'PY' || dl_fail "trace export: $(head -c 2000 "$tmp/export.json")"
import json, re, sys
v = json.load(open(sys.argv[1]))
assert list(v) == ["resourceSpans"], list(v)
rs = v["resourceSpans"][0]
assert rs["resource"]["attributes"][0] == {"key": "service.name",
    "value": {"stringValue": "agentd"}}, rs["resource"]
ss = rs["scopeSpans"][0]
assert ss["scope"]["name"] == "agentd"
spans = ss["spans"]
ids = {s["traceId"] for s in spans}
assert sys.argv[2] in ids and len(ids) == 2, ids
kinds = set()
for s in spans:
    assert re.fullmatch("[0-9a-f]{32}", s["traceId"]), s
    assert re.fullmatch("[0-9a-f]{16}", s["spanId"]), s
    assert "parentSpanId" not in s or re.fullmatch("[0-9a-f]{16}", s["parentSpanId"])
    assert isinstance(s["kind"], int) and s["kind"] in (1, 2, 3), s
    assert isinstance(s["startTimeUnixNano"], str), s
    assert int(s["endTimeUnixNano"]) >= int(s["startTimeUnixNano"]), s
    assert s["status"]["code"] in (1, 2), s
    for kv in s["attributes"]:
        (t, x), = kv["value"].items()
        assert t in ("stringValue", "intValue", "doubleValue", "boolValue",
            "arrayValue", "kvlistValue"), kv
        if t == "intValue":
            int(x)
    kinds.add(s["kind"])
assert kinds >= {1, 2, 3}, kinds
assert any(s["status"]["code"] == 2 and s["status"].get("message")
    for s in spans), "no error status"
PY
run trace export ffffffffffffffffffffffffffffffff
expect 1 err "unknown trace"
run trace export NOT-AN-ID
expect 1
run trace show ffffffffffffffffffffffffffffffff
expect 1

# The strict schema check, when test-trace-otlp.sh asks for it.
if [ -n "${TRACE_OTLP_PROTO:-}" ]; then
	PYTHONPATH=$TRACE_OTLP_PROTO "$PYTHON" - "$tmp/export.json" <<'PY' ||
import sys
from google.protobuf import json_format
from opentelemetry.proto.trace.v1 import trace_pb2
text = open(sys.argv[1]).read()
msg = json_format.Parse(text, trace_pb2.TracesData())
n = sum(len(ss.spans) for rs in msg.resource_spans for ss in rs.scope_spans)
assert n > 0, "no spans parsed"
for rs in msg.resource_spans:
    for ss in rs.scope_spans:
        for s in ss.spans:
            assert s.start_time_unix_nano > 0 and s.kind in (1, 2, 3)
PY
	    dl_fail "the export does not parse as OTLP TracesData"
fi

dl_stop
exit 0
