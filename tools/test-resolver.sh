#!/bin/bash
# The toolchain resolver's tests: tools/resolve-toolchain.sh against recorded
# `apt-cache madison` outputs. tools/testdata/resolver/mirror/ holds one file a
# package, as the mirror answered on 2026-12-02; every other folder there is
# a case: the package files that differ from that mirror, an optional `pins`
# (lines that override tools/pins.env) and `expect`. Each line of `expect` is
# one of
#   KEY=VALUE   a line the resolver must print on stdout
#   ~ TEXT      text its table (stderr) must hold, spaces squeezed
#   FAIL        the resolver must exit non-zero
# Prints one line a case and 'N passed, N failed'. Runs on the host in seconds.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
DATA=$TOP/tools/testdata/resolver
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
for case in "$DATA"/*/; do
	name=$(basename "$case")
	[ "$name" != mirror ] || continue
	cat "$TOP/tools/pins.env" "$case/pins" 2>/dev/null >"$tmp/pins"
	rm -rf "$tmp/madison"
	cp -r "$DATA/mirror" "$tmp/madison"
	find "$case" -maxdepth 1 -type f ! -name pins ! -name expect -exec cp {} "$tmp/madison/" \;
	rc=0
	"$TOP/tools/resolve-toolchain.sh" "$tmp/pins" "$tmp/madison" >"$tmp/out" 2>"$tmp/err" || rc=$?
	tr -s ' ' <"$tmp/err" >"$tmp/err.squeezed"
	why=
	if grep -qx FAIL "$case/expect"; then
		[ $rc != 0 ] || why="resolved where it must fail"
	else
		[ $rc = 0 ] || why="failed: $(head -n1 "$tmp/err")"
	fi
	while IFS= read -r line; do
		[ -z "$why" ] || break
		case $line in
		FAIL) ;;
		"~ "*) grep -qF -- "$(printf '%s' "${line#\~ }" | tr -s ' ')" "$tmp/err.squeezed" ||
			why="its table lacks: ${line#\~ }" ;;
		*) grep -qxF -- "$line" "$tmp/out" || why="expected $line, got: $(grep "^${line%%=*}=" "$tmp/out")" ;;
		esac
	done <"$case/expect"
	if [ -z "$why" ]; then
		echo "ok $name"
		pass=$((pass + 1))
	else
		echo "not ok $name: $why"
		sed 's/^/#   /' "$tmp/err"
		fail=$((fail + 1))
	fi
done
echo "resolver: $pass passed, $fail failed"
[ $fail = 0 ]
