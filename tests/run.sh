#!/bin/sh
# Run every test binary given on the command line, in order; stop at the
# first failure. cmocka prints its summary on stderr, so capture 2>&1.
# Environment for the tests: VIVA_BIN is the sanitized viva binary, and
# ASan/UBSan options make any report fatal.
set -u
: "${VIVA_BIN:=build/san/viva}"
export VIVA_BIN
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# fontconfig's own one-time loss (see the file); an absolute path, since
# the end-to-end tests start viva in directories of their own
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$(cd "$(dirname "$0")" && pwd)/lsan.supp:print_suppressions=0}"
passed=0; failed=0; total=0
start=$(date +%s)
for t in "$@"; do
  total=$((total + 1))
  echo "=== $t"
  t0=$(date +%s)
  if "$t" 2>&1; then
    passed=$((passed + 1))
    echo "=== $t ok ($(( $(date +%s) - t0 )) s)"
  else
    rc=$?
    failed=$((failed + 1))
    echo "=== $t FAILED (exit $rc)"
    break
  fi
done
skipped=$(( $# - passed - failed ))
echo
echo "test binaries: $passed passed, $failed failed, $skipped not run ($(( $(date +%s) - start )) s)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
