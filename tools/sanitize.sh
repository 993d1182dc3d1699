#!/usr/bin/env bash
# Builds kiln with AddressSanitizer and UndefinedBehaviorSanitizer (gcc) and
# runs the test suites that feed it hostile or unusual input under them:
#
#   unit   Check tests (importer, parser, verifier, passes, limits, codegen)
#   ir     text-IR tests (parse, print, passes, verifier messages)
#   bad    every malformed input of tests/bad through `kiln dump`
#   cli    the command line: every subcommand, its options and its errors
#   onnx   the ONNX backend conformance suite: every model imported,
#          compiled, JIT-run with the runtime and compared (about a minute)
#
# Leaks are errors (LeakSanitizer); so is any UBSan report.  Left out: the
# valgrind suite (valgrind does not run ASan binaries) and the models and
# slow suites (minutes of exporting and compiling real networks, whose
# input handling the others already cover; docs/fuzzing.md).  Ends with
# "N passed, M failed".
#
# Usage: tools/sanitize.sh [BUILDDIR]   (default: build-asan)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-asan}
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false >/dev/null ||
    { echo "meson setup failed"; echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C "$build" -j2 || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
# exitcode: a sanitizer report fails a test even where 1 would be expected
export ASAN_OPTIONS=detect_leaks=1:exitcode=86:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=86
export LSAN_OPTIONS=exitcode=86
meson test -C "$build" --print-errorlogs --num-processes 2 --suite unit --suite ir --suite bad --suite cli \
  --suite onnx \
  ${KILN_TEST_ARGS:-}
status=$?
/usr/bin/python3 tools/test-summary.py "$build/meson-logs/testlog.json"
sumstatus=$?
[ $status -eq 0 ] && [ $sumstatus -eq 0 ]
