#!/bin/sh
# test-plugins-schema-diff.sh: the tool-argument validator (plugins/schema.c)
# against Debian's python3-jsonschema (Draft 2020-12) on every schema and
# instance pair of tests/fixtures/schema/corpus.jsonl.  Both must give the
# same verdict on each pair, and both must agree with the pair's "valid".
#
# Skips (77) when python3-jsonschema is missing, but fails under CI=true.
set -u

: "${OUT:=build}"
: "${AGENTD_SRCDIR:=.}"
PY=/usr/bin/python3
CORPUS="$AGENTD_SRCDIR/tests/fixtures/schema/corpus.jsonl"
PROG="$OUT/tests/unit/test-plugins-schema"

if ! "$PY" -c 'import jsonschema' 2>/dev/null; then
	if [ "${CI:-}" = true ]; then
		echo "test-plugins-schema-diff: python3-jsonschema is missing" \
		    "(scripts/install-deps installs it)" >&2
		exit 1
	fi
	echo "test-plugins-schema-diff: skipped: python3-jsonschema is not" \
	    "installed (scripts/install-deps installs it)"
	exit 77
fi
if [ ! -x "$PROG" ]; then
	echo "test-plugins-schema-diff: $PROG is not built" >&2
	exit 1
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if ! "$PROG" --validate "$CORPUS" >"$tmp/ours"; then
	echo "test-plugins-schema-diff: $PROG --validate failed" >&2
	exit 1
fi

"$PY" - "$CORPUS" >"$tmp/theirs" <<'EOF' || exit 1
import json
import sys

import jsonschema

with open(sys.argv[1], encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
        pair = json.loads(line)
        if "schema" not in pair:
            continue
        try:
            jsonschema.Draft202012Validator.check_schema(pair["schema"])
        except jsonschema.SchemaError:
            print(n, "bad-schema")
            continue
        v = jsonschema.Draft202012Validator(pair["schema"])
        print(n, "valid" if v.is_valid(pair["instance"]) else "invalid")
EOF

"$PY" - "$CORPUS" >"$tmp/expected" <<'EOF' || exit 1
import json
import sys

with open(sys.argv[1], encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
        pair = json.loads(line)
        if "schema" in pair:
            print(n, "valid" if pair["valid"] else "invalid")
EOF

pairs=$(wc -l <"$tmp/theirs")
if [ "$pairs" -lt 60 ]; then
	echo "test-plugins-schema-diff: only $pairs pairs in $CORPUS" >&2
	exit 1
fi
rc=0
if ! cmp -s "$tmp/ours" "$tmp/theirs"; then
	echo "test-plugins-schema-diff: plugins/schema.c and jsonschema" \
	    "disagree (corpus line, ours, theirs):" >&2
	paste -d ' ' "$tmp/ours" "$tmp/theirs" | awk '$2 != $4 {print $1, $2, $4}' >&2
	rc=1
fi
if ! cmp -s "$tmp/theirs" "$tmp/expected"; then
	echo "test-plugins-schema-diff: jsonschema disagrees with the" \
	    "corpus' own verdicts (line, theirs, expected):" >&2
	paste -d ' ' "$tmp/theirs" "$tmp/expected" |
	    awk '$2 != $4 {print $1, $2, $4}' >&2
	rc=1
fi
if [ "$rc" -eq 0 ]; then
	echo "test-plugins-schema-diff: $pairs pairs, all verdicts agree"
fi
exit $rc
