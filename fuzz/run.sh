#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer + AddressSanitizer and runs one (or all) for a bounded time.
#
#   fuzz/run.sh TARGET SECONDS     e.g. fuzz/run.sh fuzz-json 300
#   fuzz/run.sh all SECONDS        every target, one after the other, SECONDS each
#   fuzz/run.sh build              only build
#
# Seeds come from the committed corpus/<target>/; new inputs go to scratch/corpus/<target>/ (not committed),
# crashes and property failures to crashes/<target>/, logs to scratch/logs/. Extra arguments after SECONDS go to
# libFuzzer (e.g. -jobs=1 -max_len=8192). Exit status: 0 when every run ended without a finding.
set -euo pipefail
cd "$(dirname "$0")"

TARGETS=(fuzz-http-upgrade fuzz-ws-frames fuzz-json fuzz-phoenix fuzz-lua-values fuzz-erlang-terms fuzz-resp)
BUILD_PATH=.build

build() {
    echo "== building fuzz targets (release, -sanitize=fuzzer,address)" >&2
    swift build -c release --build-path "$BUILD_PATH" \
        --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address \
        -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table >&2
}

run_one() {
    local target=$1 seconds=$2
    shift 2
    local binary="$BUILD_PATH/release/$target"
    mkdir -p "scratch/corpus/$target" "scratch/logs" "crashes/$target" "corpus/$target"
    local log="scratch/logs/$target.log"
    local dict=()
    [[ -f "dict/$target.dict" ]] && dict=("-dict=dict/$target.dict")
    echo "== $target for ${seconds}s" >&2
    set +e
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}" \
        "$binary" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="crashes/$target/" "${dict[@]}" "$@" \
        "scratch/corpus/$target" "corpus/$target" >"$log" 2>&1
    local status=$?
    set -e
    local last execs
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    execs=$(grep -E 'stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
    echo "$target: exit=$status executions=${execs:-?} last: ${last:-?}"
    if [[ $status -ne 0 ]]; then
        grep -E 'PROPERTY FAILED|ERROR: AddressSanitizer|Fatal error|deadly signal|Test unit written' "$log" | head -n 5 || true
    fi
    return $status
}

case "${1:-}" in
    build) build ;;
    all)
        seconds=${2:?usage: run.sh all SECONDS}
        shift 2
        build
        failed=0
        for target in "${TARGETS[@]}"; do run_one "$target" "$seconds" "$@" || failed=1; done
        exit $failed
        ;;
    fuzz-*)
        target=$1 seconds=${2:?usage: run.sh TARGET SECONDS}
        shift 2
        build
        run_one "$target" "$seconds" "$@"
        ;;
    *)
        echo "usage: $0 {build | all SECONDS | TARGET SECONDS} [libFuzzer flags]; targets: ${TARGETS[*]}" >&2
        exit 2
        ;;
esac
