#!/bin/bash
# The sans-IO core's tests, on the host.
. "$(dirname "$0")/common.sh"
command -v cargo >/dev/null || die "cargo is missing on the host"
cd "$TOP/rxe_migros/proto"
cargo test --offline --quiet || die "host tests failed"
# clippy, where the host has it (the module builds with the kernel's own
# lints; these are the core's).
if cargo clippy --version >/dev/null 2>&1; then
	cargo clippy --offline --quiet --all-targets -- -D warnings || die "clippy finds fault with proto/"
fi
# The kernel's rustfmt settings are rustfmt's defaults for edition 2021.
if command -v rustfmt >/dev/null; then
	cargo fmt --check || die "proto/ is not rustfmt-clean: run cargo fmt"
	rustfmt --edition 2021 --check "$TOP/rxe_migros/rxe.rs" >/dev/null ||
		die "the driver is not rustfmt-clean: run rustfmt --edition 2021 rxe_migros/rxe.rs"
fi
