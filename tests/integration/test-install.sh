#!/bin/sh
# test-install.sh: `make install` into a temporary DESTDIR, then check what
# it laid out the way a package would be checked:
#
#   - the layout: binaries executable, units, sysusers.d and tmpfiles.d
#     files, man pages, default config, plugins and bundled data, with
#     their modes; templates filled in for the PREFIX used; an existing
#     config never overwritten; a daemon built for another PREFIX refused;
#   - the default config against the daemon's parser (every directive it
#     documents, uncommented, must pass --check-config, and every
#     directive the parser knows must be documented in it);
#   - systemd-analyze verify on the installed units, with the installed
#     tree as root;
#   - systemd-sysusers and systemd-tmpfiles on that root (as root only);
#   - systemd-analyze security --offline: prints the exposure score and
#     fails above 2.5;
#   - the man pages through groff with every warning on;
#   - the installed daemon and client: a ping over a private socket; the
#     daemon from $OUT again under the kernel's MDWE (no writable and
#     executable memory, like the unit's MemoryDenyWriteExecute=yes),
#     where the kernel has it.
#
# It runs scripts/install-files on the binaries `make check` built rather
# than a recursive `make install`.  The installed daemon's data directory
# is fixed when it is built, so PREFIX here is the one make used:
# $PREFIX when `make check PREFIX=...` exported it, else the Makefile's
# default, /usr/local.
#
# Environment: OUT (the build folder), AGENTD_SRCDIR (the checkout), CI
# (true: a missing tool is a failure, not a skip).
set -u

: "${OUT:=build}"
: "${AGENTD_SRCDIR:=$(pwd)}"
: "${CI:=false}"
PREFIX=${PREFIX:-/usr/local}
MAX_EXPOSURE=2.5

me=test-install
src=$AGENTD_SRCDIR
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agentd-install.XXXXXX") || exit 1
root=$tmp/root
daemon_pid=

cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 2' HUP INT TERM

fail() {
	echo "$me: FAIL: $*" >&2
	exit 1
}

note() {
	echo "$me: $*"
}

# missing WHAT: a tool the test needs is absent; CI must have it.
missing() {
	if [ "$CI" = true ]; then
		fail "$1 is missing (CI=true: scripts/install-deps should have installed it)"
	fi
	echo "$me: SKIP: $1 is missing" >&2
	exit 77
}

# mode PATH: the octal permission bits of PATH.
mode() {
	stat -c %a "$1"
}

# expect_file MODE PATH: PATH is a regular file with exactly MODE.
expect_file() {
	[ -f "$2" ] || fail "${2#"$root"} was not installed"
	[ ! -L "$2" ] || fail "${2#"$root"} is a symbolic link"
	m=$(mode "$2")
	[ "$m" = "$1" ] || fail "${2#"$root"} has mode $m, not $1"
}

expect_dir() {
	[ -d "$1" ] || fail "${1#"$root"}/ was not created"
}

command -v systemd-analyze >/dev/null 2>&1 || missing systemd-analyze
for f in "$OUT/install/agentd" "$OUT/agentd" "$OUT/agentctl"; do
	[ -x "$f" ] || fail "$f is not built (make check builds it)"
done
case "$PREFIX" in
/*) ;;
*) fail "PREFIX '$PREFIX' is not absolute" ;;
esac
PREFIX=$(printf '%s\n' "$PREFIX" | sed -e 's|//*|/|g' -e 's|/$||')

# ---- install ---------------------------------------------------------

note "installing with PREFIX=${PREFIX:-/} into $root"
if ! OUT=$OUT DESTDIR=$root PREFIX=$PREFIX sh "$src/scripts/install-files" \
    >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log" >&2
	fail "scripts/install-files failed"
fi

P=$root$PREFIX
svc=$P/lib/systemd/system/agentd.service
sock=$P/lib/systemd/system/agentd.socket

# ---- layout ----------------------------------------------------------

expect_file 755 "$P/sbin/agentd"
expect_file 755 "$P/bin/agentctl"
cmp -s "$OUT/install/agentd" "$P/sbin/agentd" ||
    fail "sbin/agentd differs from $OUT/install/agentd"
cmp -s "$OUT/agentctl" "$P/bin/agentctl" ||
    fail "bin/agentctl differs from $OUT/agentctl"
if [ -f "$OUT/agentd-infer" ]; then
	expect_file 755 "$P/bin/agentd-infer"
fi
expect_file 644 "$svc"
expect_file 644 "$sock"
expect_file 644 "$P/lib/sysusers.d/agentd.conf"
expect_file 644 "$P/lib/tmpfiles.d/agentd.conf"
expect_file 644 "$root/etc/agentd/agentd.conf"
expect_dir "$root/etc/agentd/agents"
expect_dir "$root/etc/agentd/plugins.d"
expect_dir "$P/lib/agentd/plugins"
cmp -s "$src/systemd/agentd.conf" "$root/etc/agentd/agentd.conf" ||
    fail "/etc/agentd/agentd.conf differs from systemd/agentd.conf"

# The man pages the project must have, and every one it has.
for m in agentd.8 agentctl.1 agentd.conf.5; do
	[ -f "$src/docs/man/$m" ] || fail "docs/man/$m does not exist"
done
nman=0
for f in "$src"/docs/man/*.[158]; do
	[ -f "$f" ] || continue
	expect_file 644 "$P/share/man/man${f##*.}/$(basename "$f")"
	nman=$((nman + 1))
done

nplug=0
for f in "$OUT"/plugins/*.so; do
	[ -f "$f" ] || continue
	expect_file 755 "$P/lib/agentd/plugins/$(basename "$f")"
	nplug=$((nplug + 1))
done

# Bundled data keeps its source-tree path under share/agentd: the model,
# knowledge base and eval sets under models/ (not its training code), the
# Lua agents and tools (not the embedding's C sources), the prompts.
{
	(cd "$src" && find models -name train -prune -o -type f \
	    \( -name '*.gguf' -o -name '*.txt' -o -name '*.jsonl' \) -print)
	(cd "$src" && find lua -type f -name '*.lua')
	(cd "$src" && find agent/prompts -type f)
} >"$tmp/data.list" 2>/dev/null
ndata=0
while IFS= read -r f; do
	expect_file 644 "$P/share/agentd/$f"
	ndata=$((ndata + 1))
done <"$tmp/data.list"
if [ -d "$P/share/agentd" ]; then
	bad=$(find "$P/share/agentd" -name '*.py' -o -name '*.c' -o -name '*.h' \
	    -o -name train)
	[ -z "$bad" ] || fail "source or training files installed as data: $bad"
fi

# Nothing installed is writable by group or others.
bad=$(find "$root" -perm /022 ! -type l)
[ -z "$bad" ] || fail "group- or world-writable: $bad"

# Templates are filled in for this PREFIX.
if grep -n '@[A-Z_]*@' "$svc" "$sock"; then
	fail "placeholders left in the installed units (above)"
fi
grep -qx "ExecStart=$PREFIX/sbin/agentd" "$svc" ||
    fail "agentd.service: no 'ExecStart=$PREFIX/sbin/agentd'"
grep -q "^ExecPaths=$PREFIX/sbin/agentd -$PREFIX/lib/agentd/plugins " "$svc" ||
    fail "agentd.service: ExecPaths= does not name $PREFIX/sbin/agentd and the plugin folder"
grep -qx 'ListenStream=/run/agentd/agentd.sock' "$sock" ||
    fail "agentd.socket: not listening on /run/agentd/agentd.sock"
grep -qx 'SocketMode=0660' "$sock" || fail "agentd.socket: mode is not 0660"

# An existing config survives a second install.
echo '# local change' >>"$root/etc/agentd/agentd.conf"
OUT=$OUT DESTDIR=$root PREFIX=$PREFIX sh "$src/scripts/install-files" \
    >"$tmp/install2.log" 2>&1 || fail "second install failed"
tail -n 1 "$root/etc/agentd/agentd.conf" | grep -qx '# local change' ||
    fail "a second install overwrote /etc/agentd/agentd.conf"
cp "$src/systemd/agentd.conf" "$root/etc/agentd/agentd.conf"

# A daemon built for another PREFIX would look for its data elsewhere.
if OUT=$OUT DESTDIR=$tmp/wrong PREFIX=/opt/agentd-elsewhere \
    sh "$src/scripts/install-files" >"$tmp/wrong.log" 2>&1; then
	fail "install-files accepted a daemon built for another PREFIX"
fi
grep -q 'not built for PREFIX' "$tmp/wrong.log" ||
    fail "wrong-PREFIX install failed without saying why: $(cat "$tmp/wrong.log")"

note "layout ok: binaries, units, sysusers/tmpfiles, config," \
    "$nman man pages, $nplug plugins, $ndata data files"

# ---- the default config against the parser ---------------------------

conf=$src/systemd/agentd.conf
"$OUT/agentd" --check-config -c "$conf" >"$tmp/check.log" 2>&1 ||
    fail "agentd --check-config rejects systemd/agentd.conf: $(cat "$tmp/check.log")"
"$P/sbin/agentd" --check-config -c "$root/etc/agentd/agentd.conf" \
    >"$tmp/check.log" 2>&1 ||
    fail "the installed agentd rejects the installed config: $(cat "$tmp/check.log")"

# Every directive is documented as '#name default', right after its
# explanation; uncommented, the defaults must all parse.
sed -n 's/^#\([a-z][a-z0-9_]* .*\)$/\1/p' "$conf" >"$tmp/all.conf"
sed 's/ .*//' "$tmp/all.conf" | sort >"$tmp/documented"
[ -s "$tmp/documented" ] || fail "systemd/agentd.conf documents no directive"
dup=$(uniq -d "$tmp/documented")
[ -z "$dup" ] || fail "systemd/agentd.conf documents twice: $dup"
"$OUT/agentd" --check-config -c "$tmp/all.conf" >"$tmp/check.log" 2>&1 ||
    fail "the documented defaults, uncommented, do not parse: $(cat "$tmp/check.log")"

# And the other way: every directive the parser accepts is documented.
# The parser's names come from its table, dmn_directives[] in
# daemon/config.c, one DIRECTIVE(name, ...) or LIST(name, ...) a line.
awk '/dmn_directives\[\] = \{/ { on = 1; next }
    on && /^\};/ { exit }
    on && match($0, /^[ \t]*[A-Z_]+\([a-z][a-z0-9_]*,/) {
	s = substr($0, RSTART, RLENGTH); sub(/^[ \t]*[A-Z_]+\(/, "", s)
	sub(/,$/, "", s); print s }' "$src/daemon/config.c" | sort -u \
    >"$tmp/known"
[ -s "$tmp/known" ] ||
    fail "found no directive in dmn_directives[] in daemon/config.c"
undoc=$(comm -23 "$tmp/known" "$tmp/documented")
[ -z "$undoc" ] ||
    fail "directives the daemon knows but systemd/agentd.conf does not document: $(echo "$undoc" | tr '\n' ' ')"
unknown=$(comm -13 "$tmp/known" "$tmp/documented")
[ -z "$unknown" ] ||
    fail "systemd/agentd.conf documents directives daemon/config.c lacks: $(echo "$unknown" | tr '\n' ' ')"

# The check is real: a misspelt directive is refused with file:line.
{ cat "$tmp/all.conf"; echo 'no_such_directive 1'; } >"$tmp/bad.conf"
badline=$(wc -l <"$tmp/bad.conf")
if "$OUT/agentd" --check-config -c "$tmp/bad.conf" >"$tmp/check.log" 2>&1; then
	fail "--check-config accepted an unknown directive"
fi
grep -q "bad.conf:$badline" "$tmp/check.log" ||
    fail "--check-config did not name bad.conf:$badline: $(cat "$tmp/check.log")"
note "config ok: $(wc -l <"$tmp/documented") directives documented and parsed"

# ---- systemd-analyze verify ------------------------------------------

# verify loads the units' dependencies (sysinit.target, ...) and checks
# every Exec path from the root given: lend the root this machine's
# units, and a stand-in for each program the units run that the install
# does not provide (/bin/kill for ExecReload=).
units=$root/usr/lib/systemd/system
mkdir -p "$units"
for f in /usr/lib/systemd/system/* /lib/systemd/system/*; do
	[ -f "$f" ] || [ -L "$f" ] || continue
	[ -e "$units/${f##*/}" ] || [ -L "$units/${f##*/}" ] ||
	    cp -P "$f" "$units/"
done
# A merged /usr, as on Debian 12: /bin and /sbin lead into /usr.
for d in bin sbin; do
	mkdir -p "$root/usr/$d"
	[ -e "$root/$d" ] || [ -L "$root/$d" ] || ln -s "usr/$d" "$root/$d"
done
sed -n 's/^Exec\(Start\|Stop\|Reload\|Condition\)[A-Za-z]*=[-@:+!]*//p' \
    "$svc" | sed 's/ .*//' >"$tmp/exec.list"
while IFS= read -r cmd; do
	case "$cmd" in
	/*) ;;
	*) fail "agentd.service: '$cmd' is not an absolute path" ;;
	esac
	if [ ! -e "$root$cmd" ]; then
		mkdir -p "$(dirname "$root$cmd")"
		printf '#!/bin/sh\nexit 0\n' >"$root$cmd"
		chmod 755 "$root$cmd"
	fi
done <"$tmp/exec.list"

verify_man=--man=yes
if command -v man >/dev/null 2>&1; then
	MANPATH=$P/share/man
	export MANPATH
else
	verify_man=--man=no
	note "man is missing: verify skips the Documentation= man pages"
fi
systemd-analyze verify "$verify_man" --root="$root" agentd.service \
    agentd.socket >"$tmp/verify.log" 2>&1
rc=$?
if [ $rc -ne 0 ] || [ -s "$tmp/verify.log" ]; then
	cat "$tmp/verify.log" >&2
	fail "systemd-analyze verify (exit $rc) reported the above"
fi
note "systemd-analyze verify: clean"

# ---- sysusers.d and tmpfiles.d, applied to the root ------------------

if [ "$(id -u)" -eq 0 ]; then
	mkdir -p "$root/etc"
	: >>"$root/etc/passwd"
	: >>"$root/etc/group"
	systemd-sysusers --root="$root" >"$tmp/sysusers.log" 2>&1 ||
	    fail "systemd-sysusers: $(cat "$tmp/sysusers.log")"
	grep -q '^agentd:' "$root/etc/passwd" ||
	    fail "systemd-sysusers created no user agentd"
	grep -q '^agentd:' "$root/etc/group" ||
	    fail "systemd-sysusers created no group agentd"
	uid=$(awk -F: '$1 == "agentd" { print $3 }' "$root/etc/passwd")
	systemd-tmpfiles --root="$root" --create agentd.conf \
	    >"$tmp/tmpfiles.log" 2>&1 ||
	    fail "systemd-tmpfiles: $(cat "$tmp/tmpfiles.log")"
	for d in run/agentd:755 var/lib/agentd:750; do
		m=${d#*:}
		d=${d%:*}
		[ -d "$root/$d" ] || fail "systemd-tmpfiles did not create /$d"
		[ "$(stat -c '%u %a' "$root/$d")" = "$uid $m" ] ||
		    fail "/$d is $(stat -c '%u %a' "$root/$d"), not '$uid $m'"
	done
	note "sysusers.d and tmpfiles.d: user agentd ($uid), /run/agentd and /var/lib/agentd"
else
	note "not root: sysusers.d and tmpfiles.d are not applied"
fi

# ---- systemd-analyze security ----------------------------------------

systemd-analyze security --offline=true --root="$root" agentd.service \
    >"$tmp/security.log" 2>&1
score=$(sed -n 's/.*Overall exposure level for agentd\.service: \([0-9][0-9.]*\).*/\1/p' \
    "$tmp/security.log")
if [ -z "$score" ]; then
	cat "$tmp/security.log" >&2
	fail "no exposure level in systemd-analyze security's output"
fi
if awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s > m) }'; then
	grep '✗' "$tmp/security.log" >&2
	fail "exposure level $score is above $MAX_EXPOSURE"
fi
note "systemd-analyze security: exposure level $score (limit $MAX_EXPOSURE)"

# ---- man pages -------------------------------------------------------

if command -v groff >/dev/null 2>&1; then
	for f in "$P"/share/man/man[158]/*; do
		[ -f "$f" ] || continue
		out=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$f" 2>&1)
		[ -z "$out" ] || fail "groff warns about ${f#"$P"/}: $out"
	done
	note "man pages: groff -man -ww clean"
else
	missing groff
fi

# ---- the installed binaries run --------------------------------------

# start_daemon SOCKET CMD...: run a daemon in the background, with the
# unit's UMask=0077, and wait until its socket appears.
start_daemon() {
	s=$1
	shift
	(
		umask 077
		exec "$@" -s "$s" -c "$root/etc/agentd/agentd.conf"
	) >>"$tmp/daemon.log" 2>&1 &
	daemon_pid=$!
	i=0
	while [ ! -S "$s" ]; do
		kill -0 "$daemon_pid" 2>/dev/null ||
		    fail "the daemon exited before listening: $(cat "$tmp/daemon.log")"
		i=$((i + 1))
		[ $i -le 200 ] || fail "no socket $s after 20 s"
		sleep 0.1
	done
}

# stop_daemon: SIGTERM, and it must exit 0.
stop_daemon() {
	kill -TERM "$daemon_pid"
	wait "$daemon_pid"
	rc=$?
	daemon_pid=
	[ $rc -eq 0 ] || fail "the daemon exited $rc on SIGTERM: $(cat "$tmp/daemon.log")"
}

start_daemon "$tmp/a.sock" "$P/sbin/agentd"
[ "$(mode "$tmp/a.sock")" = 660 ] ||
    fail "under umask 077 the socket is $(mode "$tmp/a.sock"), not 660"
"$P/bin/agentctl" -s "$tmp/a.sock" ping >"$tmp/ping.log" 2>&1 ||
    fail "installed agentctl ping failed: $(cat "$tmp/ping.log")"
"$P/bin/agentctl" -s "$tmp/a.sock" -j status >"$tmp/status.log" 2>&1 ||
    fail "installed agentctl status failed: $(cat "$tmp/status.log")"
grep -qF "\"datadir\":\"$PREFIX/share/agentd\"" "$tmp/status.log" ||
    fail "the installed daemon's data directory is not $PREFIX/share/agentd: $(cat "$tmp/status.log")"
stop_daemon
note "installed agentd and agentctl: ping and status ok, socket 0660," \
    "data directory $PREFIX/share/agentd"

# agentd.socket: systemd-socket-activate passes a listening socket the way
# systemd does (LISTEN_FDS) and execs the daemon on the first connection.
# The daemon must serve it, leave the path from its environment alone,
# and not unlink the socket it did not create when it stops.
if command -v systemd-socket-activate >/dev/null 2>&1; then
	(
		umask 077
		AGENTD_SOCKET=$tmp/unused.sock
		export AGENTD_SOCKET
		exec systemd-socket-activate -l "$tmp/act.sock" \
		    "$P/sbin/agentd" -c "$root/etc/agentd/agentd.conf"
	) >>"$tmp/daemon.log" 2>&1 &
	daemon_pid=$!
	i=0
	while [ ! -S "$tmp/act.sock" ]; do
		kill -0 "$daemon_pid" 2>/dev/null ||
		    fail "systemd-socket-activate exited: $(cat "$tmp/daemon.log")"
		i=$((i + 1))
		[ $i -le 200 ] || fail "no socket $tmp/act.sock after 20 s"
		sleep 0.1
	done
	"$P/bin/agentctl" -s "$tmp/act.sock" ping >"$tmp/ping.log" 2>&1 ||
	    fail "ping over an activated socket failed: $(cat "$tmp/ping.log")"
	stop_daemon
	[ -S "$tmp/act.sock" ] ||
	    fail "the daemon unlinked the socket systemd passed it"
	[ ! -e "$tmp/unused.sock" ] ||
	    fail "under socket activation the daemon created \$AGENTD_SOCKET too"
	note "socket activation: served the passed socket and left it in place"
else
	missing systemd-socket-activate
fi

# MemoryDenyWriteExecute=yes: the kernel's own switch (PR_SET_MDWE, Linux
# 6.3) refuses the same mappings, so run the daemon from the checkout
# (which finds the bundled model, plugins and Lua agents) under it.
# Perl, part of every Debian system, makes the prctl call and execs.
if command -v perl >/dev/null 2>&1 &&
    perl -e 'exit(syscall(157, 65, 1, 0, 0, 0) == 0 ? 0 : 1)' 2>/dev/null; then
	start_daemon "$tmp/m.sock" perl -e \
	    'syscall(157, 65, 1, 0, 0, 0) == 0 or die "prctl: $!\n"; exec @ARGV or die "exec: $!\n"' \
	    -- "$OUT/agentd"
	"$OUT/agentctl" -s "$tmp/m.sock" ping >"$tmp/ping.log" 2>&1 ||
	    fail "ping under MDWE failed: $(cat "$tmp/ping.log")"
	"$OUT/agentctl" -s "$tmp/m.sock" status >"$tmp/status.log" 2>&1 ||
	    fail "status under MDWE failed: $(cat "$tmp/status.log")"
	stop_daemon
	note "MemoryDenyWriteExecute: the daemon serves under PR_SET_MDWE"
else
	note "this kernel has no PR_SET_MDWE: MemoryDenyWriteExecute is not exercised"
fi

exit 0
