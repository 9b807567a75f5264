#!/bin/sh
# test-model-react.sh: the bundled model really runs ReAct with the real
# tools.  The first 4 held-out items of each family (models/eval: calc,
# kb_search, two lookups and a computation, a tool-free sum, an invented
# Lua tool chosen from its description) are run with greedy decoding on
# the committed Q8_0 model through agentd-infer and tests/tools/
# model-tools (models/train/eval_react.py, the stand-in for eval.run);
# at least 17 of the 20 must come out exactly right and every model step
# must parse as a valid ReAct step.
#
# Skips (77) without Debian's python3-numpy, but fails under CI=true.
set -u

: "${OUT:=build}"
: "${AGENTD_SRCDIR:=.}"
PY=/usr/bin/python3
SRC=$AGENTD_SRCDIR
TOOLS="$OUT/tests/tools/model-tools"
INFER="$OUT/agentd-infer"
MODEL="$SRC/models/agentd-tiny-moe-q8_0.gguf"
MIN_EXACT=17

if ! "$PY" -c 'import numpy' 2>/dev/null; then
	if [ "${CI:-}" = true ]; then
		echo "test-model-react: $PY lacks numpy" >&2
		exit 1
	fi
	echo "test-model-react: skipped: $PY lacks numpy" \
	    "(scripts/install-deps installs python3-numpy)"
	exit 77
fi
for f in "$TOOLS" "$INFER"; do
	if [ ! -x "$f" ]; then
		echo "test-model-react: $f is not built" >&2
		exit 1
	fi
done

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if ! "$PY" "$SRC/models/train/eval_react.py" --model "$MODEL" \
    --infer "$INFER" --tools "$TOOLS" --limit 4 --out "$tmp/out.jsonl" \
    >"$tmp/table"; then
	echo "test-model-react: eval_react.py failed" >&2
	exit 1
fi
cat "$tmp/table"
"$PY" - "$tmp/out.jsonl" "$MIN_EXACT" <<'PYEOF'
import json
import sys
rs = [json.loads(line) for line in open(sys.argv[1])]
ok = sum(r["exact"] for r in rs)
bad = [r for r in rs if not all(s["parsed"] for s in r["steps"])]
for r in rs:
    if not r["exact"]:
        print("test-model-react: %s: expected %r, got %r (%s)" % (
            r["id"], r["expected"], r["answer"], r["ending"]),
            file=sys.stderr)
if ok < int(sys.argv[2]) or bad:
    sys.exit("test-model-react: %d of %d exact (need %s), %d with steps "
             "that do not parse" % (ok, len(rs), sys.argv[2], len(bad)))
print("test-model-react: %d of %d exact" % (ok, len(rs)))
PYEOF
