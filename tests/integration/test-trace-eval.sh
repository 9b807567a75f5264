#!/bin/sh
# test-trace-eval.sh: `agentctl eval` against the real daemon on the
# scripted backend: a four-item dataset (two right, one wrong, one whose
# model call fails) scored by "contains", serially and with concurrency
# 2; the eval.progress lines, the Markdown report (success rate and its
# Wilson interval), the JSON report (per item with trace ids, per
# component from the spans), --report FILE, a dataset with a bad line
# (exit 2 naming FILE:LINE, nothing sent), a scorer the daemon refuses
# (exit 1), a Lua scorer (a Lua tool) beside an unknown scorer tool, and
# the LLM judge.  The daemon is stopped by its pid.
#
# Environment: OUT (the build folder), AGENTD_SRCDIR (the checkout).
set -u

: "${OUT:=build}"
: "${AGENTD_SRCDIR:=$(pwd)}"
AGENTD=$OUT/agentd
AGENTCTL=$OUT/agentctl
PYTHON=/usr/bin/python3
LIMIT=30

# shellcheck source=scripts/daemon-lib.sh
. "$AGENTD_SRCDIR/scripts/daemon-lib.sh"
dl_init test-trace-eval
dl_ready_secs=$LIMIT
dl_stop_secs=$LIMIT

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

tmp=$(mktemp -d /tmp/agentd-eval-test.XXXXXX) || dl_fail "no temporary folder"
sock=$tmp/agentd.sock
cat >"$tmp/script.json" <<'JSON'
{"model": "scripted",
 "scripts": [
  {"match": "Candidate answer: 5",
   "outputs": ["Thought: 3+3 is not 5\nFinal Answer: fail\n"]},
  {"match": "Grade the candidate answer",
   "outputs": ["Thought: same meaning\nFinal Answer: pass\n"]},
  {"match": "what is 2+2", "outputs": ["Thought: sum\nFinal Answer: 4\n"]},
  {"match": "capital of France",
   "outputs": ["Thought: known\nFinal Answer: Paris\n"]},
  {"match": "what is 3+3", "outputs": ["Thought: sum\nFinal Answer: 5\n"]},
  {"match": "break the model", "outputs": [{"error": "the model broke"}]}]}
JSON
cat >"$tmp/data.jsonl" <<'JSONL'
{"id": "add", "input": "what is 2+2", "expected": "4"}
{"id": "capital", "input": "capital of France?", "expected": "paris"}

{"id": "wrong", "input": "what is 3+3", "expected": "6"}
{"input": "break the model", "expected": "x"}
JSONL
mkdir "$tmp/agents" "$tmp/tools"
# A Lua scorer: passes when the answer holds the expected text.
cat >"$tmp/tools/lua_contains.lua" <<'LUA'
return {
	name = "lua_contains",
	description = "Scores an answer: pass when it holds the expected text.",
	parameters = {
		type = "object",
		properties = {
			input = { type = "string" },
			answer = { type = "string" },
			expected = { type = "string" },
		},
		required = { "input", "answer", "expected" },
		additionalProperties = false,
	},
	run = function(args)
		local a, e = string.lower(args.answer), string.lower(args.expected)
		if e ~= "x" and string.find(a, e, 1, true) then
			return "pass"
		end
		return "fail"
	end,
}
LUA
cat >"$tmp/agentd.conf" <<CONF
scripted_model $tmp/script.json
trace_dir $tmp/traces
agents_dir $tmp/agents
lua_tools_dir $tmp/tools
workers 2
CONF
dl_start "$AGENTD" "$sock" "$tmp/agentd.conf"

# Serially, Markdown, with progress on standard error.
run eval "$tmp/data.jsonl" --scorer contains --ignore-case \
    --report "$tmp/report.json"
expect 0 out "| 4 | 2 | 1 | 50.0% | 15.0% to 85.0% |"
expect 0 out "| add | yes | 4 | 4 |"
expect 0 out "| wrong | no | 5 | 6 |"
expect 0 out "### Model calls"
expect 0 err "eval: 4/4 done, 2 passed"
[ "$(grep -c '^eval: ' "$tmp/err")" -eq 4 ] ||
	dl_fail "expected 4 progress lines: $(cat "$tmp/err")"
[ -s "$tmp/report.json" ] || dl_fail "--report wrote nothing"

# Concurrently, JSON.
run --json eval "$tmp/data.jsonl" --scorer contains --ignore-case \
    --concurrency 2 --set max_steps=3
expect 0
"$PYTHON" - "$tmp/out" "$tmp/report.json" <<'PY' || dl_fail "eval --json: $(cat "$tmp/out")"
import json, re, sys
for path in sys.argv[1:]:
    r = json.load(open(path))
    c = r["chain"]
    assert c["items"] == 4 and c["passed"] == 2 and c["errors"] == 1, c
    assert abs(c["success_rate"] - 0.5) < 1e-9, c
    lo, hi = c["ci95"]
    assert abs(lo - 0.15003898915214947) < 1e-6, c["ci95"]
    assert abs(hi - 0.8499610108478506) < 1e-6, c["ci95"]
    ids = [i["id"] for i in r["items"]]
    assert ids == ["add", "capital", "wrong", 5], ids
    byid = {i["id"]: i for i in r["items"]}
    assert byid["add"]["pass"] and byid["capital"]["pass"], r["items"]
    assert not byid["wrong"]["pass"] and byid["wrong"]["answer"] == "5"
    assert "model broke" in byid[5]["error"], byid[5]
    for i in r["items"][:3]:
        assert re.fullmatch("[0-9a-f]{32}", i["trace_id"]), i
        assert i["steps"] == 1 and i["output_tokens"] > 0, i
    m = r["components"]["model"]
    assert m["calls"] >= 3 and m["output_tokens"] > 0, m
    p = r["components"]["parser"]
    assert p["parses"] == 3 and p["failures"] == 0, p
PY

# A bad dataset line is refused before anything is sent.
printf '{"id":1,"input":"a","expected":"b"}\n{"id":2,\n' >"$tmp/bad.jsonl"
run eval "$tmp/bad.jsonl"
expect 2 err "bad.jsonl:2:"
printf '{"id":1,"expected":"b"}\n' >"$tmp/bad2.jsonl"
run eval "$tmp/bad2.jsonl"
expect 2 err "bad2.jsonl:1:"
run eval "$tmp/missing.jsonl"
expect 2 err "missing.jsonl"
# The daemon refuses a scorer it does not know, and a bad pattern.
run eval "$tmp/data.jsonl" --scorer fuzzy
expect 1 err "scorer.type"
run eval "$tmp/data.jsonl" --scorer regex
expect 0 out "| 4 |"
printf '{"id":1,"input":"a","expected":"a(b"}\n' >"$tmp/re.jsonl"
run eval "$tmp/re.jsonl" --scorer regex
expect 1 err "pattern at offset"

# The Lua scorer, and a scorer tool that does not exist.
run eval "$tmp/data.jsonl" --scorer-tool lua_contains
expect 0 out "| 4 | 2 | 1 | 50.0% |"
expect 0 out "| capital | yes | Paris | paris |"
run eval "$tmp/data.jsonl" --scorer-tool no_such_tool
expect 1 err "unknown scorer tool"

# An item's own tool list: an unknown tool fails that item only.
printf '%s\n' '{"id":"t1","input":"what is 2+2","expected":"4","tools":["lua_contains"]}' \
    '{"id":"t2","input":"what is 2+2","expected":"4","tools":["no_such_tool"]}' \
    >"$tmp/tools.jsonl"
run --json eval "$tmp/tools.jsonl"
expect 0
"$PYTHON" - "$tmp/out" <<'PY' || dl_fail "eval with item tools: $(cat "$tmp/out")"
import json, sys
r = json.load(open(sys.argv[1]))
got = {i["id"]: (i["pass"], i.get("error")) for i in r["items"]}
assert got["t1"] == (True, None), got
assert not got["t2"][0] and "unknown tool 'no_such_tool'" in got["t2"][1], got
PY

# The LLM judge: "paris" passes as "Paris", 5 fails against 6, and the
# item without an answer fails unjudged.
run --json eval "$tmp/data.jsonl" --judge react --rubric "Be strict."
expect 0
"$PYTHON" - "$tmp/out" <<'PY' || dl_fail "eval --judge: $(cat "$tmp/out")"
import json, sys
r = json.load(open(sys.argv[1]))
got = {i["id"]: i["pass"] for i in r["items"]}
assert got == {"add": True, "capital": True, "wrong": False, 5: False}, got
PY

# --compare: the plain agent against self-consistency, side by side,
# with the chart; and the options it refuses.
run eval "$tmp/data.jsonl" --scorer contains --ignore-case \
    --compare none --compare sc3=self_consistency:n=3,temperature=0.5 \
    --chart "$tmp/chart.svg" --report "$tmp/compare.json"
expect 0 out "| none | 4 | 2 | 50.0% | 15.0% to 85.0% |"
expect 0 out "| sc3 | 4 | 2 | 50.0% |"
expect 0 err "eval: configuration 2/2: sc3"
"$PYTHON" - "$tmp/compare.json" "$tmp/chart.svg" <<'PY' || dl_fail "eval --compare: $(cat "$tmp/out")"
import json, sys
import xml.etree.ElementTree as ET
r = json.load(open(sys.argv[1]))
c = r["configurations"]
assert [x["label"] for x in c] == ["none", "sc3"], c
assert "strategy" not in c[0] and c[1]["strategy"] == {"name": "self_consistency", "n": 3, "temperature": 0.5}, c[1]
t0 = c[0]["report"]["chain"]["tokens"]["per_item"]["mean"]
t1 = c[1]["report"]["chain"]["tokens"]["per_item"]["mean"]
assert t1 > t0 > 0, (t0, t1)
svg = ET.parse(sys.argv[2]).getroot()
ns = {"s": "http://www.w3.org/2000/svg"}
circles = svg.findall(".//s:circle", ns)
assert len(circles) == 2, len(circles)
xs = [float(e.get("cx")) for e in circles]
assert xs[1] > xs[0], xs
texts = [e.text for e in svg.findall(".//s:g[@class=\"point\"]/s:text", ns)]
assert texts[0] == "1" and texts[2] == "2", texts
assert texts[1].startswith("1. none: 50.0% (15.0% to 85.0%), "), texts
assert texts[3].startswith("2. sc3: 50.0%"), texts
PY
run eval "$tmp/data.jsonl" --compare none --strategy cot
expect 2 err "do not mix"
run eval "$tmp/data.jsonl" --chart "$tmp/x.svg"
expect 2 err "--chart needs --compare"
run eval "$tmp/data.jsonl" --compare self_consistency:beam=2
expect 2 err "not a setting of self_consistency"
run eval "$tmp/data.jsonl" --compare x=:n=2
expect 2 err "give [LABEL=]NAME"

dl_stop
exit 0
