#!/bin/sh
# test-trace-otlp.sh: trace.export checked strictly against the
# OpenTelemetry protocol's own trace schema: the .proto files in the
# shared data (otlp/, see its README) are compiled with protoc, and
# test-trace-daemon.sh's export is parsed with protobuf's json_format,
# which rejects an unknown or misspelt field and a value of the wrong
# type.  Skips (77) when the data, protoc or python3-protobuf is missing,
# but fails then under CI=true.
#
# Environment: OUT, AGENTD_SRCDIR, AGENTD_SHARED_DATA (default
# $AGENTD_SRCDIR/../shared/data), CI.
set -u

me=test-trace-otlp
: "${AGENTD_SRCDIR:=.}"
data=${AGENTD_SHARED_DATA:-$AGENTD_SRCDIR/../shared/data}/otlp
PYTHON=/usr/bin/python3

skip() {
	if [ "${CI:-}" = true ]; then
		echo "$me: FAIL: $* (required under CI=true)" >&2
		exit 1
	fi
	echo "$me: SKIP: $*" >&2
	exit 77
}

[ -f "$data/opentelemetry/proto/trace/v1/trace.proto" ] ||
	skip "no OTLP protos in $data"
command -v protoc >/dev/null 2>&1 ||
	skip "protoc is missing (scripts/install-deps: protobuf-compiler)"
"$PYTHON" -c 'import google.protobuf' 2>/dev/null ||
	skip "python3-protobuf is missing (scripts/install-deps)"

tmp=$(mktemp -d /tmp/agentd-otlp-test.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
if ! protoc -I "$data" --python_out="$tmp" \
    opentelemetry/proto/common/v1/common.proto \
    opentelemetry/proto/resource/v1/resource.proto \
    opentelemetry/proto/trace/v1/trace.proto 2>"$tmp/protoc.err"; then
	echo "$me: FAIL: protoc: $(cat "$tmp/protoc.err")" >&2
	exit 1
fi
# The official example must parse: the check itself works.
PYTHONPATH=$tmp "$PYTHON" - "$data/examples/trace.json" <<'PY' || exit 1
import sys
from google.protobuf import json_format
from opentelemetry.proto.trace.v1 import trace_pb2
json_format.Parse(open(sys.argv[1]).read(), trace_pb2.TracesData())
PY
# And a misspelt field must not.
if PYTHONPATH=$tmp "$PYTHON" -c '
from google.protobuf import json_format
from opentelemetry.proto.trace.v1 import trace_pb2
json_format.Parse("{\"resourceSpan\": []}", trace_pb2.TracesData())' \
    2>/dev/null; then
	echo "$me: FAIL: json_format accepted a misspelt field" >&2
	exit 1
fi
TRACE_OTLP_PROTO=$tmp sh "$AGENTD_SRCDIR/tests/integration/test-trace-daemon.sh"
