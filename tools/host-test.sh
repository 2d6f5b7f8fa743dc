#!/bin/bash
# The host tests: the toolchain resolver's, then the sans-IO core's. The core
# is built with the host's cargo where there is one, else with the build
# chroot's (built first if need be), so a Debian host with only apt runs them.
. "$(dirname "$0")/common.sh"
"$TOP/tools/test-resolver.sh" || die "the toolchain resolver's tests failed"

if ! command -v cargo >/dev/null; then
	log "no cargo on the host: the core's tests run with the build chroot's"
	"$TOP/tools/toolchain.sh"
	load_toolchain
	[ -n "${CARGO_VERSION:-}" ] ||
		die "no cargo on the host, and the mirror has none of the chroot's rustc version: install cargo"
	in_chroot bash -c "cd '$TOP/rxe_migros/proto' && cargo test --offline --quiet" || die "host tests failed"
	exit 0
fi

cd "$TOP/rxe_migros/proto"
# The simulation's tests say what their schedules did (migrations, moves,
# remapped QP numbers...): those lines are shown, the rest only on failure.
testlog=$(mktemp)
trap 'rm -f "$testlog"' EXIT
if ! cargo test --offline --quiet -- --show-output >"$testlog" 2>&1; then
	cat "$testlog"
	die "host tests failed"
fi
grep -E '^[0-9]+ (UD )?schedules|^test result' "$testlog"
# clippy, where the host has it (the module builds with the kernel's own
# lints; these are the core's). Cargo.toml's rust-version makes clippy flag
# any API newer than the oldest rustc we support (incompatible_msrv).
if cargo clippy --version >/dev/null 2>&1; then
	cargo clippy --offline --quiet --all-targets -- -D warnings || die "clippy finds fault with proto/"
fi
# The kernel's rustfmt settings are rustfmt's defaults for edition 2021.
if command -v rustfmt >/dev/null; then
	cargo fmt --check || die "proto/ is not rustfmt-clean: run cargo fmt"
	rustfmt --edition 2021 --check "$TOP/rxe_migros/rxe.rs" >/dev/null ||
		die "the driver is not rustfmt-clean: run rustfmt --edition 2021 rxe_migros/rxe.rs"
fi
