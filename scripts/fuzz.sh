#!/usr/bin/env bash
# Builds the fuzz targets of fuzz/ for libFuzzer on the stable toolchain, then runs each over
# its committed corpus (fuzz/corpus/TARGET) plus a bounded number of new executions.
#
#   bash scripts/fuzz.sh                    CI: every target, a bounded number of executions
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh decode
#                                           a longer run of one target
#   FUZZ_NEW_CORPUS=DIR                     keeps the inputs a run adds in DIR/TARGET (to merge
#                                           into the corpus: TARGET -merge=1 fuzz/corpus/TARGET DIR/TARGET)
#
# A crash leaves its input in fuzz/artifacts/TARGET/; the run fails and prints how to replay it.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
# Its own target directory whatever the environment says: the instrumented build must not
# share one with the main build, and the runs below look for the targets here.
export CARGO_TARGET_DIR="$PWD/target"

# Executions per target in CI (the corpus replay included, which comes first and whole), sized
# for about two minutes in all on an idle machine: in this unoptimised, sanitised build the allowlists (a regex
# compiled per input) run ~45 inputs/s, the decoder ~130, the exposition ~550, the others
# ~2,000-4,000 (RELIABILITY.md).
declare -A RUNS=(
  [accept]=40000
  [allowlists]=1200
  [config_file]=8000
  [decode]=3000
  [exposition]=12000
  [otlp_response]=40000
)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${!RUNS[@]}")

# cargo-fuzz's instrumentation (`cargo fuzz build --sanitizer address`), spelled out so that no
# cargo-fuzz install is needed: SanitizerCoverage's inline 8-bit counters, PC table and
# comparison tracing feed libFuzzer (which libfuzzer-sys compiles and links), `--cfg fuzzing`,
# debug assertions. AddressSanitizer catches what the unsafe code (compact samples, the SSE
# copies of the encoders) might read or write out of bounds; it is still a `-Z` flag, which
# RUSTC_BOOTSTRAP=1 lets the stable compiler take (the stable toolchain ships its runtime).
# `--target` keeps these flags off build scripts and proc macros, as cargo-fuzz does.
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cllvm-args=-sanitizer-coverage-stack-depth \
 -Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
 -Zsanitizer=address --cfg fuzzing -Cdebug-assertions"
# Use-after-return detection (fake stacks) cost a third of the exposition target's time.
export ASAN_OPTIONS=detect_odr_violation=0:detect_stack_use_after_return=0
host=$(rustc -vV | sed -n 's/^host: //p')

cargo fmt -- --check
started=$SECONDS
# Unoptimised (the dev profile, line tables only): the quickest to build, and CI runs each
# target only briefly.
cargo build --quiet --target "$host" --bins
echo "fuzz: targets built in $((SECONDS - started)) s"
# The exposition oracle's own tests: that it rejects what the formats' parsers reject.
cargo test --quiet --target "$host" --lib
bin_dir=target/$host/debug

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
new_corpus=${FUZZ_NEW_CORPUS:-$scratch}
for target in "${targets[@]}"; do
  [ -n "${RUNS[$target]:-}" ] || { echo "fuzz: no target $target" >&2; exit 1; }
  if [ -n "${FUZZ_SECONDS:-}" ]; then
    limit=(-max_total_time="$FUZZ_SECONDS")
  else
    limit=(-runs="${RUNS[$target]}")
  fi
  mkdir -p "$new_corpus/$target" "artifacts/$target"
  log=$scratch/$target.log
  started=$SECONDS
  # New inputs go to a directory of their own: the committed corpus only seeds the run.
  # -entropic=0: entropic scheduling spent most of the time of the slow targets (decode,
  # allowlists) updating its feature frequencies, six times their executions' own.
  if ! "$bin_dir/$target" "${limit[@]}" -entropic=0 -timeout=60 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="artifacts/$target/" \
    "$new_corpus/$target" "corpus/$target" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $target failed; replay with: fuzz/$bin_dir/$target fuzz/artifacts/$target/<file>" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
  echo "fuzz: $target: $runs executions in $((SECONDS - started)) s, $coverage, no failure"
done
