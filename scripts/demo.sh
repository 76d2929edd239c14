#!/bin/bash
# The quick-start demo: install the dependencies, build, then checkpoint a
# running program (a counter printing 1, 2, 3... to a file every 100 ms),
# show that it is gone, restore it, and show it counting on from where it
# stopped -- not from 1.
#
#   scripts/demo.sh [--no-deps]
#
# Environment: BUILD (default build), CRYO (default BUILD/cli/cryo).
# Run as root.  Cleans up after itself (the images and logs are kept, and
# their place printed, if something fails).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$SRC/build}
case "$BUILD" in /*) ;; *) BUILD=$PWD/$BUILD ;; esac

if [ "${1:-}" != "--no-deps" ]; then
	echo "### installing dependencies"
	"$SRC/scripts/install-deps.sh"
fi

echo "### building"
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$SRC"
ninja -C "$BUILD"

CRYO=${CRYO:-$BUILD/cli/cryo}
COUNTER=$BUILD/tests/progs/counter
DIR=$(mktemp -d /tmp/cryo-demo.XXXXXX)
OUT=$DIR/counter.txt
PID=

say() { printf '\n\033[1m### %s\033[0m\n' "$*"; }
run() {	# run LOG CMD...: show CMD, run it with its output to LOG
	local log=$1
	shift
	printf '$ %s\n' "$*"
	"$@" >"$log" 2>&1
}
last() { tail -n 1 "$OUT" 2>/dev/null || true; }
ours() {	# is $PID still our counter?
	[ -n "$PID" ] && [ "$(readlink "/proc/$PID/exe" 2>/dev/null)" = "$(readlink -f "$COUNTER")" ]
}
cleanup() {
	local rc=$?
	if ours; then kill -KILL "$PID" 2>/dev/null || true; fi
	if [ $rc -eq 0 ]; then
		rm -rf "$DIR"
	else
		echo
		echo "DEMO FAILED; images and logs kept in $DIR"
		for f in "$DIR"/images/dump.log "$DIR"/images/restore.log "$DIR"/*.out; do
			[ -s "$f" ] || continue
			echo "--- tail of $f"
			tail -n 15 "$f"
		done
	fi
	exit $rc
}
trap cleanup EXIT
die() { echo "$*" >&2; exit 1; }

say "starting a counter that prints a number every 100 ms to $OUT"
# Only stdin/stdout/stderr: close whatever else this shell inherited (a
# terminal multiplexer's or CI agent's pipes would be state to checkpoint).
(
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] && eval "exec $fd>&-"
	done
	exec "$COUNTER" --pidfile "$DIR/counter.pid" --outfile "$DIR/counter.msgs"
) </dev/null >"$OUT" 2>&1
PID=$(cat "$DIR/counter.pid")
sleep 2
echo "counter is pid $PID; its file ends with: $(tail -n 3 "$OUT" | tr '\n' ' ')"

say "checkpointing it: cryo dump"
mkdir "$DIR/images"
run "$DIR/dump.out" "$CRYO" dump -t "$PID" -D "$DIR/images" -o dump.log -v4 ||
	die "cryo dump failed (see $DIR/images/dump.log)"
for _ in $(seq 100); do [ -e "/proc/$PID" ] || break; sleep 0.1; done
[ -e "/proc/$PID" ] && die "pid $PID is still there after the dump"
STOPPED=$(last)
echo "pid $PID is gone ($(ls /proc/"$PID" 2>&1 | head -n 1 || true))"
ls -l "$DIR/images"
sleep 1
[ "$(last)" = "$STOPPED" ] || die "the file still grows: something else is writing it"
echo "the counter stopped at $STOPPED"

say "restoring it: cryo restore"
run "$DIR/restore.out" "$CRYO" restore -D "$DIR/images" -d --pidfile "$DIR/restored.pid" \
	-o restore.log -v4 || die "cryo restore failed (see $DIR/images/restore.log)"
echo "restored as pid $(cat "$DIR/restored.pid")"
sleep 2
NOW=$(last)
echo "its file now ends with: $(tail -n 3 "$OUT" | tr '\n' ' ')"
[ -n "$NOW" ] && [ "$NOW" -gt "$STOPPED" ] || die "the counter did not go on after restore"
NEXT=$(awk -v s="$STOPPED" 'prev == s { print; exit } { prev = $0 }' "$OUT")
[ "$NEXT" = "$((STOPPED + 1))" ] ||
	die "after $STOPPED the file says '$NEXT', expected $((STOPPED + 1))"
AROUND=$(awk -v s="$STOPPED" '{ l[NR] = $0 } $0 == s { n = NR }
	END { for (i = n - 2; i <= n + 3; i++) if (i > 0 && i in l) printf "%s%s ", l[i], i == n ? " |" : "" }' "$OUT")
echo "around the checkpoint the file reads: $AROUND"
echo "it went on from $STOPPED to $NEXT ... $NOW, not from 1"

say "stopping it"
kill -TERM "$PID"
for _ in $(seq 50); do [ -s "$DIR/counter.msgs" ] && grep -q '^PASS\|^FAIL' "$DIR/counter.msgs" && break; sleep 0.1; done
grep -q '^PASS' "$DIR/counter.msgs" || die "the counter's own check failed: $(grep '^FAIL' "$DIR/counter.msgs")"
echo "its own check passed: the file holds exactly 1..$(grep -o 'stopped at [0-9]*' "$DIR/counter.msgs" | grep -o '[0-9]*$')"
PID=
echo
echo "DEMO OK"
