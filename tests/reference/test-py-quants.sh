#!/bin/sh
# test-py-quants.sh: runs tests/reference/test_quants.py (unittest) with
# Debian's Python; skips without numpy, except under CI=true.
set -u

: "${AGENTD_SRCDIR:=$(pwd)}"
PY=/usr/bin/python3

if ! "$PY" -c 'import numpy' 2>/dev/null; then
	if [ "${CI:-}" = true ]; then
		echo "test-py-quants: $PY with numpy is needed (CI=true)" >&2
		exit 1
	fi
	echo "test-py-quants: skipped: $PY with numpy is needed"
	exit 77
fi
exec "$PY" "$AGENTD_SRCDIR/tests/reference/test_quants.py"
