#!/bin/sh
# test-py-gguf-io.sh: runs tests/reference/test_gguf_io.py (unittest) with
# Debian's Python; skips without numpy, except under CI=true.
set -u

: "${AGENTD_SRCDIR:=$(pwd)}"
PY=/usr/bin/python3

if ! "$PY" -c 'import numpy' 2>/dev/null; then
	if [ "${CI:-}" = true ]; then
		echo "test-py-gguf-io: $PY with numpy is needed (CI=true)" >&2
		exit 1
	fi
	echo "test-py-gguf-io: skipped: $PY with numpy is needed"
	exit 77
fi
exec "$PY" "$AGENTD_SRCDIR/tests/reference/test_gguf_io.py"
