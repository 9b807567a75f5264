#!/bin/sh
# test-model-data.sh: the bundled model's training data (models/train).
#
# Regenerates a small data set with the generator and checks that
# - the committed held-out split (models/eval/*.jsonl and the Lua tools
#   of models/eval/tools) and knowledge base (models/kb) come out of the
#   generator byte for byte (they are deterministic from the seed);
# - every episode renders its prompt exactly as the template and the
#   tool registry do, and every calc, kb_search and Lua-tool observation
#   in it equals what the real tool returns now (check_data.py replays
#   each one through tests/tools/model-tools);
# - once the agent runtime has added them, agent/prompts/react-v1.txt is
#   the template the generator's fallback copy holds, and
#   tests/fixtures/react-v1.golden is reproduced byte for byte.
#
# Skips (77) without Debian's python3-numpy, but fails under CI=true.
set -u

: "${OUT:=build}"
: "${AGENTD_SRCDIR:=.}"
PY=/usr/bin/python3
SRC=$AGENTD_SRCDIR
TOOLS="$OUT/tests/tools/model-tools"

if ! "$PY" -c 'import numpy' 2>/dev/null; then
	if [ "${CI:-}" = true ]; then
		echo "test-model-data: $PY lacks numpy" >&2
		exit 1
	fi
	echo "test-model-data: skipped: $PY lacks numpy" \
	    "(scripts/install-deps installs python3-numpy)"
	exit 77
fi
if [ ! -x "$TOOLS" ]; then
	echo "test-model-data: $TOOLS is not built" >&2
	exit 1
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if ! "$PY" "$SRC/models/train/gen_data.py" --tools "$TOOLS" \
    --out "$tmp/data" --train 400 --valid 40 --test-per-family 70 \
    --write-eval "$tmp/eval" >"$tmp/gen.log" 2>&1; then
	cat "$tmp/gen.log" >&2
	echo "test-model-data: gen_data.py failed" >&2
	exit 1
fi
if ! diff -r "$tmp/eval" "$SRC/models/eval" >"$tmp/diff" 2>&1; then
	head -20 "$tmp/diff" >&2
	echo "test-model-data: models/eval differs from what gen_data.py" \
	    "writes (rerun scripts/train-model or gen_data.py --write-eval)" >&2
	exit 1
fi

golden=""
tmpl="$SRC/agent/prompts/react-v1.txt"
if [ -f "$tmpl" ]; then
	if ! "$PY" - "$tmpl" <<'PYEOF'
import sys
sys.path.insert(0, "models/train")
import react
with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
if text != react.TEMPLATE_FALLBACK:
    sys.exit("test-model-data: %s differs from react.TEMPLATE_FALLBACK "
             "(DESIGN.md's bytes)" % sys.argv[1])
PYEOF
	then
		exit 1
	fi
else
	echo "test-model-data: note: $tmpl not there yet; using DESIGN.md's" \
	    "template"
fi
if [ -f "$SRC/tests/fixtures/react-v1.golden" ]; then
	golden="$SRC/tests/fixtures/react-v1.golden"
fi

if ! "$PY" "$SRC/models/train/check_data.py" --tools "$TOOLS" \
    --data "$tmp/data" ${golden:+--golden "$golden"}; then
	echo "test-model-data: check_data.py failed" >&2
	exit 1
fi
exit 0
