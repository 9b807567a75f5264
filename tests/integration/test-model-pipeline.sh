#!/bin/sh
# test-model-pipeline.sh: `make model`'s pipeline end to end in its quick
# mode (scripts/train-model --quick: a small data set, the tokenizer, a
# tiny model trained for 40 steps, the GGUF export, Q8_0 quantization),
# then checks what it made: the F32 export's engine logits equal
# PyTorch's (1e-4), the Q8_0 file loads, and running the quick training
# again from the same seed gives the same weights bit for bit.
#
# Skips (77) without Debian's python3-torch, but fails under CI=true.
set -u

: "${OUT:=build}"
: "${AGENTD_SRCDIR:=.}"
PY=/usr/bin/python3
SRC=$AGENTD_SRCDIR

if ! "$PY" -c 'import numpy, torch' 2>/dev/null; then
	if [ "${CI:-}" = true ]; then
		echo "test-model-pipeline: $PY lacks numpy or torch" >&2
		exit 1
	fi
	echo "test-model-pipeline: skipped: $PY lacks numpy or torch" \
	    "(apt-get install python3-numpy python3-torch)"
	exit 77
fi
for f in "$OUT/tests/tools/model-tools" "$OUT/agentd-infer" \
    "$OUT/tests/reference/test-logits"; do
	if [ ! -x "$f" ]; then
		echo "test-model-pipeline: $f is not built" >&2
		exit 1
	fi
done

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
w="$tmp/work"

if ! OUT="$OUT" "$SRC/scripts/train-model" --quick --work "$w" \
    >"$tmp/log" 2>&1; then
	tail -30 "$tmp/log" >&2
	echo "test-model-pipeline: scripts/train-model --quick failed" >&2
	exit 1
fi
for f in agentd-tiny-moe-f32.gguf agentd-tiny-moe-q8_0.gguf \
    train/train-log.jsonl ref/logits-f32.bin; do
	if [ ! -s "$w/$f" ]; then
		echo "test-model-pipeline: $f was not made" >&2
		exit 1
	fi
done
if ! "$OUT/tests/reference/test-logits" "$w/agentd-tiny-moe-f32.gguf" \
    "$w/ref/logits-tokens.txt" "$w/ref/logits-f32.bin" 1e-4; then
	echo "test-model-pipeline: F32 export does not match PyTorch" >&2
	exit 1
fi
if ! "$OUT/agentd-infer" info -m "$w/agentd-tiny-moe-q8_0.gguf" \
    >"$tmp/info" 2>&1 || ! grep -q 'q8_0' "$tmp/info"; then
	echo "test-model-pipeline: the Q8_0 file does not load" >&2
	exit 1
fi

# Deterministic from the seed: train again, compare the weights.
mv "$w/train/model.pt" "$tmp/first.pt"
rm -rf "$w/train"
if ! "$PY" "$SRC/models/train/train.py" --data "$w/data" \
    --work "$w/train" --quick >"$tmp/log2" 2>&1; then
	tail -20 "$tmp/log2" >&2
	exit 1
fi
exec "$PY" - "$tmp/first.pt" "$w/train/model.pt" <<'PYEOF'
import sys
import torch
a = torch.load(sys.argv[1])["model"]
b = torch.load(sys.argv[2])["model"]
diff = [k for k in a if not torch.equal(a[k], b[k])]
if diff:
    sys.exit("test-model-pipeline: retraining from the same seed changed "
             "%s" % ", ".join(diff[:5]))
print("test-model-pipeline: retrained bit for bit (%d tensors)" % len(a))
PYEOF
