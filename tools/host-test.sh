#!/bin/bash
# The sans-IO core's tests, on the host.
. "$(dirname "$0")/common.sh"
command -v cargo >/dev/null || die "cargo is missing on the host"
cd "$TOP/rxe_migros/proto"
cargo test --offline --quiet || die "host tests failed"
