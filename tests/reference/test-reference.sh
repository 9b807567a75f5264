#!/bin/sh
# test-reference.sh: the C engine against the numpy reference forward pass.
#
# Generates the random-weight fixtures (every architecture x type) into a
# temporary folder, computes reference logits for a 64-token sequence with
# tests/reference/ref_forward.py, and runs $OUT/tests/reference/test-logits
# on each, with the per-type tolerance below (README.md has the contract).
# It also checks that the C reader takes every file (agentd-infer info)
# and that the reference's llama RoPE equals the Hugging Face route.
#
# The engine's own `agentd-infer quantize` output (from the F32 fixture)
# goes through the same comparison, named <arch>-c<type>.
#
# Environment: OUT, SAN, AGENTD_SRCDIR (from tests/run); REF_ARCHS,
# REF_TYPES and REF_CTYPES (space-separated) narrow the matrix; CI=true
# turns a missing Python into a failure instead of a skip.
set -u

: "${OUT:=build}"
: "${SAN:=0}"
: "${AGENTD_SRCDIR:=$(pwd)}"
PY=/usr/bin/python3
SRC=$AGENTD_SRCDIR
GEN=$SRC/scripts/gen-fixtures
REF=$SRC/tests/reference/ref_forward.py
TL=$OUT/tests/reference/test-logits
INFER=$OUT/agentd-infer
SEED=1
N_TOKENS=64

skip() {
	if [ "${CI:-}" = true ]; then
		echo "test-reference: $* (CI=true: failing)" >&2
		exit 1
	fi
	echo "test-reference: skipped: $*"
	exit 77
}

# Tolerance relative to max |reference logit|, per weight type.  Float
# weights are exact after dequantization, so only float32 arithmetic is
# left (1e-4; an F16 KV cache alone would cost about 5e-4).  For the
# quantized types the engine also quantizes activations (Q8_0 for the _0
# types, Q8_K for the K-quants, as ggml does), which the float64
# reference does not: ref_forward.py --simulate-activations measures that
# drift at 0.4-1.2% for the _0 types and 0.5-2.0% for the K-quants on
# these fixtures; the bounds leave twice that.
tol_for_type() {
	case $1 in
	f32 | f16 | bf16) echo 1e-4 ;;
	q8_0 | q4_0 | q5_0) echo 3e-2 ;;
	q4_k | q5_k | q6_k | q4_k_m) echo 4e-2 ;;
	*) echo "test-reference: no tolerance for type $1" >&2; exit 1 ;;
	esac
}

"$PY" -c 'import numpy' 2>/dev/null ||
	skip "$PY with numpy is needed (apt-get install python3-numpy)"
if [ ! -x "$TL" ]; then
	echo "test-reference: $TL is not built" >&2
	exit 1
fi

ARCHS=${REF_ARCHS:-"llama llama-moe qwen3 qwen3moe qwen2moe"}
if [ "$SAN" = 1 ]; then
	# Under the sanitizers the scalar C side is several times slower:
	# one float type, one _0 type and the K-quant mix.
	TYPES=${REF_TYPES:-"f32 q8_0 q4_k_m"}
	CTYPES=${REF_CTYPES:-"Q4_K_M"}
else
	TYPES=${REF_TYPES:-"f32 f16 bf16 q8_0 q4_0 q5_0 q4_k q5_k q6_k q4_k_m"}
	CTYPES=${REF_CTYPES:-"Q8_0 Q4_K_M"}
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agentd-ref.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

types_csv=$(echo "$TYPES" | tr ' ' ',')
archs_csv=$(echo "$ARCHS" | tr ' ' ',')
if ! "$PY" "$GEN" --out "$tmp" --seed "$SEED" --arch "$archs_csv" \
    --type "f32,$types_csv" >"$tmp/gen.log" 2>&1; then
	cat "$tmp/gen.log" >&2
	echo "test-reference: gen-fixtures failed" >&2
	exit 1
fi

fail=0
pass=0
for arch in $ARCHS; do
	# One token sequence per architecture, chosen on the F32 model so
	# that every MoE expert choice wins clearly (see ref_forward.py
	# decided_tokens); each type then repairs it for its own weights.
	if ! "$PY" "$REF" "$tmp/$arch-f32.gguf" --random-tokens "$N_TOKENS" \
	    --seed "$SEED" --min-router-gap 0.2 \
	    --tokens-out "$tmp/$arch.tok" >"$tmp/ref.log" 2>&1; then
		cat "$tmp/ref.log" >&2
		fail=$((fail + 1))
		continue
	fi
	if [ "$arch" = llama ]; then
		# Normal pairing on the converter-permuted weights must equal
		# NeoX pairing on the original layout.
		"$PY" "$REF" "$tmp/llama-f32.gguf" --tokens "$tmp/$arch.tok" \
		    --out "$tmp/llama-rope.ref" >/dev/null &&
		"$PY" "$REF" "$tmp/llama-f32.gguf" --tokens "$tmp/$arch.tok" \
		    --rope-route hf --compare "$tmp/llama-rope.ref" \
		    --max-rel 1e-6 >"$tmp/ref.log" 2>&1
		if [ $? -ne 0 ]; then
			cat "$tmp/ref.log" >&2
			echo "FAIL llama RoPE: ggml and HF routes differ"
			fail=$((fail + 1))
		fi
	fi
	# The same weights quantized by the engine's own quantize command
	# (CTYPES), then read by the reference's independent dequantizers.
	ctypes=
	if [ -x "$INFER" ]; then
		for ct in $CTYPES; do
			lc=$(echo "$ct" | tr 'A-Z' 'a-z')
			if "$INFER" quantize "$tmp/$arch-f32.gguf" \
			    "$tmp/$arch-c$lc.gguf" "$ct" >"$tmp/q.log" 2>&1; then
				ctypes="$ctypes c$lc"
			else
				tail -n 5 "$tmp/q.log" >&2
				echo "FAIL $arch: agentd-infer quantize $ct"
				fail=$((fail + 1))
			fi
		done
	fi
	for type in $TYPES $ctypes; do
		name=$arch-$type
		model=$tmp/$name.gguf
		tol=$(tol_for_type "${type#c}") || exit 1
		if [ -x "$INFER" ] &&
		    ! "$INFER" info -m "$model" >"$tmp/info.log" 2>&1; then
			tail -n 5 "$tmp/info.log" >&2
			echo "FAIL $name: agentd-infer info rejects the file"
			fail=$((fail + 1))
			continue
		fi
		if ! "$PY" "$REF" "$model" --tokens "$tmp/$arch.tok" \
		    --seed "$SEED" --min-router-gap 0.1 \
		    --tokens-out "$tmp/$name.tok" --out "$tmp/$name.ref" \
		    >"$tmp/ref.log" 2>&1; then
			cat "$tmp/ref.log" >&2
			echo "FAIL $name: reference"
			fail=$((fail + 1))
			continue
		fi
		if "$TL" "$model" "$tmp/$name.tok" "$tmp/$name.ref" "$tol" \
		    >"$tmp/tl.log" 2>&1; then
			echo "PASS $name: $(tail -n 1 "$tmp/tl.log")"
			pass=$((pass + 1))
		else
			sed 's/^/    /' "$tmp/tl.log"
			echo "FAIL $name (tolerance $tol)"
			fail=$((fail + 1))
		fi
	done
done
echo "test-reference: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
