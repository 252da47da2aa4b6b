#!/usr/bin/env bash
# Runs every suite (ctest for the C++ engine, vitest for the package) on an
# existing build and ends with one line summed over both:
#   N passed, N failed, N skipped
# Exits non-zero when anything failed or a suite could not run.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p build

# The C++ suite reads real LFW crops decoded by sharp.
if [ ! -f build/lfw-crops.bin ]; then
  node scripts/make-test-crops.mjs --out build/lfw-crops.bin || exit 1
fi

c_passed=0; c_failed=0; c_skipped=0; ctest_rc=0
# run_ctest DIR LOG [ctest args]: runs one ctest tree and adds its counts.
run_ctest() {
  local dir=$1 log=$2; shift 2
  ctest --test-dir "$dir" --output-on-failure "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -ne 0 ] && ctest_rc=$rc
  local total failed skipped
  total=$(sed -nE 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/p' "$log" | tail -1)
  failed=$(sed -nE 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/p' "$log" | tail -1)
  skipped=$(grep -cE '\*\*\*Skipped' "$log")
  if [ -z "$total" ]; then echo "ctest ($dir) did not report a result"; total=0; failed=1; ctest_rc=1; fi
  c_passed=$((c_passed + total - failed - skipped))
  c_failed=$((c_failed + failed))
  c_skipped=$((c_skipped + skipped))
}

run_ctest build build/ctest.log
# The CUDA plugin's simulator/debugger configuration, where .ci/run (or a
# contributor) built it in build-cuda-bar/: its build check and host tests.
if [ -f build-cuda-bar/CTestTestfile.cmake ]; then
  run_ctest build-cuda-bar build/ctest-cuda-bar.log -R '^cuda_(plugin_build|plugin|plan)_test$'
fi

vitest_json=build/vitest.json
rm -f "$vitest_json"
npx vitest run --reporter=default --reporter=json --outputFile.json="$vitest_json"
vitest_rc=$?
read -r v_passed v_failed v_skipped < <(node -e '
  const fs = require("fs");
  try {
    const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const failedSuites = r.testResults.filter((s) => s.status === "failed" && s.assertionResults.length === 0).length;
    console.log(r.numPassedTests, r.numFailedTests + failedSuites, r.numPendingTests + r.numTodoTests);
  } catch { console.log("0 1 0"); }
' "$vitest_json")

# A run that failed with no failed test (an unhandled error between tests,
# a suite that could not start) still counts as one failure in the line.
if [ "$vitest_rc" -ne 0 ] && [ "$v_failed" -eq 0 ]; then
  echo "vitest exited with $vitest_rc without a failed test: counted as 1 failed"
  v_failed=1
fi
if [ "$ctest_rc" -ne 0 ] && [ "$c_failed" -eq 0 ]; then
  echo "ctest exited with $ctest_rc without a failed test: counted as 1 failed"
  c_failed=1
fi

passed=$((c_passed + v_passed))
failed=$((c_failed + v_failed))
skipped=$((c_skipped + v_skipped))
echo "ctest: $c_passed passed, $c_failed failed, $c_skipped skipped; vitest: $v_passed passed, $v_failed failed, $v_skipped skipped"
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$ctest_rc" -ne 0 ] || [ "$vitest_rc" -ne 0 ] || [ "$failed" -ne 0 ]; then exit 1; fi
