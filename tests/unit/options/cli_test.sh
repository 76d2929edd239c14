#!/bin/sh
# The cryo binary: exit codes and the messages tools and users rely on.
# Usage: cli_test.sh PATH/TO/cryo
cryo=$1
fails=0
tmp=$(mktemp -d /tmp/cryo-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# keep the host's configuration files out of the way
export HOME="$tmp/home"
unset CRIU_CONFIG_FILE

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect RC OUTPUT-REGEX ARGS...: run cryo (stdout+stderr), check both
expect() {
	want_rc=$1 want_out=$2
	shift 2
	out=$("$cryo" "$@" 2>&1)
	rc=$?
	[ "$rc" = "$want_rc" ] || fail "cryo $*: exit $rc, expected $want_rc; output: $out"
	if [ -n "$want_out" ] && ! printf '%s\n' "$out" | grep -Eq -- "$want_out"; then
		fail "cryo $*: output lacks /$want_out/: $out"
	fi
}

# --version: criu's first line exactly, for tools that parse it
first=$("$cryo" --version | head -n 1)
[ "$first" = "Version: 3.19" ] || fail "--version first line: '$first'"
expect 0 '^cryo [0-9]' -V

expect 1 'no command' --no-default-config
expect 1 'did you mean "dump"' --no-default-config dupm
expect 1 'did you mean "--tcp-established"' --no-default-config dump -t 1 --tcp-establised
expect 1 'requires an argument' --no-default-config dump -t
expect 1 'page-server needs the --port' --no-default-config page-server
expect 1 'needs the page server' --no-default-config dump -t 1 --page-server
expect 1 "has no cpuinfo.img" --no-default-config cpuinfo check -D "$tmp"
expect 1 "lazy-pages --page-server needs the --address" --no-default-config lazy-pages --page-server --port 1
expect 1 "dump --lazy-pages needs the --port" --no-default-config dump -t 1 --lazy-pages
expect 1 "dump --lazy-pages with --leave-running is not implemented yet" --no-default-config dump -t 1 --lazy-pages --port 1 -R
expect 1 'is not a SOCK_SEQPACKET socket' --no-default-config swrk 77
expect 1 'removed from criu' --no-default-config exec
expect 1 "expected a list of fpu" --no-default-config restore --cpu-cap=sse
expect 1 "can't use images directory" --no-default-config dump -t 1 -D "$tmp/nonexistent"

expect 0 '--tree PID' help dump
expect 0 '--tree PID' dump --help
expect 0 '--restore-detached' restore --help
expect 0 'Commands:' help
expect 0 'Commands:' --help
expect 1 'unknown command' help nosuch

# configuration files: the error names FILE:LINE; --help still works
mkdir -p "$HOME/.criu"
printf 'tcp-established\ndump\n' > "$HOME/.criu/default.conf"
expect 1 "^$HOME/.criu/default.conf:2: \"dump\" is a command" dump -t 1
expect 0 'Usage' dump --help
expect 1 'no command' --no-default-config     # file skipped: no error from it
printf 'shel-job\n' > "$tmp/env.conf"
CRIU_CONFIG_FILE="$tmp/env.conf" expect 1 'env.conf:1: unknown option "shel-job"; did you mean "shell-job"' --no-default-config check
rm -f "$HOME/.criu/default.conf"

# the log file is created relative to the work dir, which defaults to -D
mkdir -p "$tmp/imgs"
"$cryo" --no-default-config dump -t 1 -D "$tmp/imgs" -o dump.log -v4 >/dev/null 2>&1
[ -f "$tmp/imgs/dump.log" ] || fail "log file not created in the images dir"
mkdir -p "$tmp/work"
"$cryo" --no-default-config dump -t 1 -D "$tmp/imgs" -W "$tmp/work" -o w.log >/dev/null 2>&1
[ -f "$tmp/work/w.log" ] || fail "log file not created in the work dir"

# a tree that holds cryo itself: refused with the reason, not "permission denied"
expect 1 'init of cryo.s PID namespace' --no-default-config dump -t 1 -D "$tmp/imgs"
expect 1 "process $$ is an ancestor of cryo" --no-default-config dump -t $$ -D "$tmp/imgs"
[ -f "$tmp/imgs/inventory.img" ] && fail "a refused dump left inventory.img"

# a directory is no configuration file
expect 1 'is a directory' --no-default-config dump -t 1 --config "$tmp"
out=$(CRIU_CONFIG_FILE=$tmp "$cryo" dump -t 1 -D "$tmp/imgs" 2>&1)
printf '%s\n' "$out" | grep -q 'is a directory' || fail "CRIU_CONFIG_FILE=DIR accepted: $out"

# check: --all, --extra and --experimental list every feature with its state
# (the plain check prints only what is missing), --feature one of them
[ "$(id -u)" = 0 ] && expect 0 'Looks good' --no-default-config check
out=$("$cryo" --no-default-config check 2>&1)
printf '%s\n' "$out" | grep -q '^\[yes\] ' && fail "plain check lists features: $out"
for o in --all --extra --experimental; do
	out=$("$cryo" --no-default-config check $o 2>&1)
	printf '%s\n' "$out" | grep -q '^\[yes\] ptrace_seize' || fail "check $o: no feature list: $out"
done
expect 0 '' --no-default-config check --feature ptrace_seize
expect 1 '' --no-default-config check --feature compat_cr

if [ $fails -ne 0 ]; then
	echo "options-cli: $fails failed"
	exit 1
fi
echo "options-cli: ok"
