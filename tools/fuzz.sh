#!/bin/bash
# Coverage-guided fuzzing of the sans-IO core (rxe_migros/proto/fuzz/): each
# target built with LLVM's sanitizer coverage by the chroot's rustc and
# linked with the chroot's libFuzzer (libclang-rt, the same LLVM), then
# run for FUZZ_S seconds (default 60) on its corpus.
#
#   tools/fuzz.sh            every target; `make fuzz FUZZ_S=600`
#   tools/fuzz.sh --smoke    a few seconds each (make check)
#   FUZZ_TARGETS="image datagram" tools/fuzz.sh
#
# First each target replays the inputs of fuzz/regress/TARGET/ (crashes
# found before: they must pass now), then it fuzzes from the seeds in the
# tree (fuzz/corpus/TARGET/) plus what earlier runs found (out/fuzz/corpus/,
# not in git). A crash's input goes to out/fuzz/crashes/; move it to
# fuzz/regress/TARGET/ with the fix. Prints a table of executions and
# coverage per target, appends it to out/fuzz/runs.log, and ends with
# 'N passed, N failed'.
. "$(dirname "$0")/common.sh"

FUZZ_S=${FUZZ_S:-60}
if [ "${1:-}" = --smoke ]; then
	FUZZ_S=${FUZZ_SMOKE_S:-4}
fi
SRC=$TOP/rxe_migros/proto/fuzz
OUT=$TOP/out/fuzz
TARGETS=${FUZZ_TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' "$SRC/Cargo.toml" | grep -v rxe_proto_fuzz)}

"$TOP/tools/toolchain.sh"
load_toolchain
libfuzzer=/usr/lib/llvm-$LLVM_MAJOR/lib/clang/$LLVM_MAJOR/lib/linux/libclang_rt.fuzzer-x86_64.a
[ -f "$CHROOT$libfuzzer" ] || die "no libFuzzer in the chroot ($libfuzzer): is libclang-rt-$LLVM_MAJOR-dev in tools/resolve-toolchain.sh's LLVM packages?"

# Sanitizer coverage as libFuzzer reads it: 8-bit edge counters, the PC
# table, and comparison operands (so that magic numbers and lengths are
# found). Debug assertions and overflow checks stay on (Cargo.toml).
flags="-C passes=sancov-module -C llvm-args=-sanitizer-coverage-level=4"
flags+=" -C llvm-args=-sanitizer-coverage-inline-8bit-counters"
flags+=" -C llvm-args=-sanitizer-coverage-pc-table"
flags+=" -C llvm-args=-sanitizer-coverage-trace-compares"
flags+=" -C link-arg=-Wl,--whole-archive -C link-arg=$libfuzzer -C link-arg=-Wl,--no-whole-archive"
flags+=" -C link-arg=-lstdc++ -C link-arg=-lm -C link-arg=-lc"
mkdir -p "$OUT"
log "fuzz: building the targets"
in_chroot env RUSTFLAGS="$flags" CARGO_TARGET_DIR="$OUT/target" \
	cargo build --offline --release --quiet --manifest-path "$SRC/Cargo.toml" ||
	die "the fuzz targets do not build"

pass=0 fail=0
table=()
for t in $TARGETS; do
	bin=$OUT/target/release/$t
	mkdir -p "$OUT/corpus/$t" "$OUT/crashes" "$SRC/corpus/$t"
	why=
	# Earlier crashes, replayed: each must run clean now.
	if compgen -G "$SRC/regress/$t/*" >/dev/null; then
		in_chroot "$bin" "$SRC/regress/$t/"* >"$OUT/$t.regress.log" 2>&1 ||
			why="a regression input fails again (see $OUT/$t.regress.log)"
	fi
	if [ -z "$why" ]; then
		in_chroot "$bin" -max_total_time="$FUZZ_S" -max_len=4096 -print_final_stats=1 \
			-artifact_prefix="$OUT/crashes/$t-" "$OUT/corpus/$t" "$SRC/corpus/$t" \
			>"$OUT/$t.log" 2>&1 || why="it crashed: $(grep -m1 -E 'panicked|ERROR|SUMMARY' "$OUT/$t.log") (input in $OUT/crashes/)"
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log" 2>/dev/null | tail -n1)
	cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$OUT/$t.log" 2>/dev/null | tail -n1)
	corpus=$(find "$OUT/corpus/$t" -type f | wc -l)
	table+=("$(printf '%-10s %12s execs  %-22s corpus %5s  %s' "$t" "${execs:-0}" "${cov:-cov: ?}" "$corpus" "${why:-ok}")")
	if [ -z "$why" ]; then
		echo "ok $t"
		pass=$((pass + 1))
	else
		echo "not ok $t: $why"
		fail=$((fail + 1))
	fi
done
{
	echo "# $(date -u +%FT%TZ) $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null) ${FUZZ_S} s a target"
	printf '%s\n' "${table[@]}"
} | tee -a "$OUT/runs.log"
echo "fuzz: $pass passed, $fail failed"
[ $fail = 0 ]
