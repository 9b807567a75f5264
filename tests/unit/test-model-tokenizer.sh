#!/bin/sh
# test-model-tokenizer.sh: the bundled model's tokenizer in Python
# (models/train/bpe.py, rebuilt from the merges in the GGUF file) and the
# engine's (agentd-infer tokenize) give the same ids on the whole data
# set `make model` trains on, generated afresh (every transcript and
# every model-only text of train, valid and test: one file the engine
# tokenizes at once, each text encoded on its own in Python), then text
# by text on a sample of it and on texts that stress the GPT-2
# pre-tokenizer.
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

if ! "$PY" -c 'import numpy' 2>/dev/null; then
	if [ "${CI:-}" = true ]; then
		echo "test-model-tokenizer: $PY lacks numpy" >&2
		exit 1
	fi
	echo "test-model-tokenizer: skipped: $PY lacks numpy" \
	    "(scripts/install-deps installs python3-numpy)"
	exit 77
fi
for f in "$TOOLS" "$INFER"; do
	if [ ! -x "$f" ]; then
		echo "test-model-tokenizer: $f is not built" >&2
		exit 1
	fi
done
if [ ! -f "$MODEL" ]; then
	echo "test-model-tokenizer: $MODEL is missing" >&2
	exit 1
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# The whole data set `make model` trains on (the generator's defaults).
if ! "$PY" "$SRC/models/train/gen_data.py" --tools "$TOOLS" \
    --out "$tmp/data" >"$tmp/gen.log" 2>&1; then
	cat "$tmp/gen.log" >&2
	echo "test-model-tokenizer: gen_data.py failed" >&2
	exit 1
fi
"$PY" "$SRC/models/train/check_tokenizer.py" --model "$MODEL" \
    --infer "$INFER" --data "$tmp/data" --all || exit 1
exec "$PY" "$SRC/models/train/check_tokenizer.py" --model "$MODEL" \
    --infer "$INFER" --data "$tmp/data" --n 150
