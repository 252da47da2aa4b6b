#!/usr/bin/env bash
# The whole GPU check, in one go, on the machine with the GPU (see
# ../shared/device/README.md; the device may be an H100 or an H200, both
# sm_90, which is what this script compiles for). On the development machine first:
#   mkdir -p .device && git rev-parse HEAD > .device/commit
#   node scripts/make-test-crops.mjs --out .device/lfw-crops.bin --count 256
# then, through the device tool, with carry [".device/lfw-crops.bin", ".device/commit"]
# (13 MB), from the repository root:
#   bash scripts/device-check.sh
# Needs: CMake, a C++17 compiler, nvcc, python3 with torch + onnx (for the
# PyTorch peer), and the test crops (.device/lfw-crops.bin, $MFN_CROPS, or
# node + sharp + .device/lfw here to make them).
# Writes under $OUT (default ./device-out): device-check.json (device,
# driver, CUDA, commit, test results, every benchmark figure), parity*.json
# (every image's cosine against the CPU, and the face detector's largest
# raw-output differences from the CPU) and the logs.
# Besides the shipped configuration it builds the one a functional simulator
# or debugger needs (MFN_CUDA_GRAPHS=OFF, MFN_CUDA_RUNTIME=Shared,
# MFN_CUDA_LINEINFO=OFF) and checks on the real GPU what a simulator cannot:
# that it gives the same results as the shipped one, and how much time the
# graphs save (batch latency with and without, measured in the same run).
# Fails early when the build or the crops are missing; test failures are
# reported loudly, the benchmarks still run, and the exit code is 1.
set -euo pipefail

root=$(pwd)
OUT=${OUT:-$root/device-out}
mkdir -p "$OUT"
build=${MFN_BUILD_DIR:-$root/build-device}
started=$(date +%s)
status=ok
failures=()

log() { echo "[device-check +$(($(date +%s) - started))s] $*" | tee -a "$OUT/device-check.log"; }
fail() { failures+=("$1"); status=fail; log "FAIL: $1"; }
die() { fail "$1"; write_summary; exit 1; }

write_summary() {
  python3 - "$OUT" "$status" "$(($(date +%s) - started))" "${failures[@]+"${failures[@]}"}" <<'PY' || true
import json, os, sys
out, status, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
summary = {"status": status, "failures": sys.argv[4:], "seconds": seconds}
info_path = os.path.join(out, "info.json")
if os.path.exists(info_path):
    summary.update(json.load(open(info_path)))
for key, name in [("tests", "tests.json"), ("bench_cuda", "bench-cuda.json"), ("bench_cuda_aligned", "bench-cuda-aligned.json"),
                  ("bench_cuda_unfused", "bench-cuda-unfused.json"), ("bench_cuda_nographs", "bench-cuda-nographs.json"),
                  ("bench_cpu", "bench-cpu.json"), ("torch_peer", "torch-peer.json")]:
    path = os.path.join(out, name)
    if os.path.exists(path):
        try:
            summary[key] = json.load(open(path))
        except ValueError as e:
            summary[key] = {"error": f"unreadable: {e}"}
for key, name in [("parity", "parity.json"), ("parity_unfused", "parity-unfused.json"), ("parity_bar", "parity-bar.json")]:
    path = os.path.join(out, name)
    if os.path.exists(path):  # the worst cosine per run; every image's figures stay in the file
        try:
            p = json.load(open(path))
            summary[key] = {"worst_cosine": p.get("worst_cosine"), "skipped": p.get("skipped"),
                            "runs": {r["label"]: r["worst_cosine"] for r in p.get("runs", [])},
                            "detector_max_rel_diff": {r["label"]: r["max_rel_diff"] for r in p.get("detector", [])},
                            "detector_max_abs_diff": {r["label"]: r["max_abs_diff"] for r in p.get("detector", [])}}
        except ValueError as e:
            summary[key] = {"error": f"unreadable: {e}"}
json.dump(summary, open(os.path.join(out, "device-check.json"), "w"), indent=2)
print(f"device-check: {status}; summary in {os.path.join(out, 'device-check.json')}")
PY
}

# --- 1. what machine this is -------------------------------------------------
command -v nvidia-smi >/dev/null || die "nvidia-smi not found: is this the GPU machine?"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || die "nvidia-smi failed (see nvidia-smi.txt)"
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)
nvcc_bin=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
cuda_version=$("$nvcc_bin" --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p')
commit=${MFN_COMMIT:-$(git rev-parse HEAD 2>/dev/null || cat .device/commit 2>/dev/null || echo unknown)}
torch_version=$(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none)
python3 - "$OUT/info.json" <<PY
import json, sys
json.dump({"device": "$gpu_name", "driver": "$driver", "cuda_toolkit": "$cuda_version", "commit": "$commit",
           "torch": "$torch_version", "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)",
           "cores": $(nproc), "date": "$(date -u +%FT%TZ)"}, open(sys.argv[1], "w"), indent=2)
PY
log "device: $gpu_name, driver $driver, CUDA $cuda_version, commit $commit, torch $torch_version"

# --- 2. build ------------------------------------------------------------------
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
log "configure + build (Release, MFN_CUDA=ON, sm_90) into build-device/"
cmake -S cpp -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DMFN_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_COMPILER="$nvcc_bin" > "$OUT/build.log" 2>&1 \
  || die "cmake configure failed (see build.log)"
cmake --build "$build" -j "$(nproc)" >> "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; die "build failed (see build.log)"; }
plugin=$(find "$build" -name libmfn_cuda.so | head -1)
[ -n "$plugin" ] || die "libmfn_cuda.so was not built"
log "built $plugin ($(du -h "$plugin" | cut -f1))"
bar_build=$build-bar
log "configure + build the simulator configuration (no graphs, shared runtime, no line info) into $(basename "$bar_build")/"
cmake -S cpp -B "$bar_build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DMFN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCMAKE_CUDA_COMPILER="$nvcc_bin" -DMFN_CUDA_GRAPHS=OFF -DMFN_CUDA_RUNTIME=Shared -DMFN_CUDA_LINEINFO=OFF \
  > "$OUT/build-bar.log" 2>&1 || die "cmake configure (simulator configuration) failed (see build-bar.log)"
cmake --build "$bar_build" -j "$(nproc)" --target mfn_cuda mfn_cuda_ptx cuda_plugin_test cuda_parity_test \
  >> "$OUT/build-bar.log" 2>&1 || { tail -40 "$OUT/build-bar.log"; die "build (simulator configuration) failed (see build-bar.log)"; }
bar_plugin=$(find "$bar_build" -name libmfn_cuda.so | head -1)
[ -n "$bar_plugin" ] || die "libmfn_cuda.so (simulator configuration) was not built"

# --- 3. test crops -----------------------------------------------------------------
crops=""
for candidate in "${MFN_CROPS:-}" "$root/.device/lfw-crops.bin" "$build/lfw-crops.bin"; do
  if [ -n "$candidate" ] && [ -f "$candidate" ]; then crops=$candidate; break; fi
done
if [ -z "$crops" ] && command -v node >/dev/null && [ -d .device/lfw ] && node -e 'require.resolve("sharp")' 2>/dev/null; then
  log "making crops from .device/lfw"
  node scripts/make-test-crops.mjs --lfw .device/lfw --out "$build/lfw-crops.bin" --count 256 >> "$OUT/crops.log" 2>&1 \
    && crops=$build/lfw-crops.bin
fi
[ -n "$crops" ] || die "no test crops: carry .device/lfw-crops.bin (node scripts/make-test-crops.mjs --out .device/lfw-crops.bin --count 256 on the development machine)"
export MFN_CROPS=$crops
log "crops: $crops"

# --- 4. tests ----------------------------------------------------------------------
tests_json=()
run_test() {  # name, then the command; a CUDA test that skips here is a failure
  local name=$1; shift
  local t0=$(date +%s) rc=0
  timeout 300 "$@" > "$OUT/$name.log" 2>&1 || rc=$?
  local secs=$(($(date +%s) - t0))
  local result=passed
  if [ $rc -eq 77 ] || grep -q "GPU checks not run" "$OUT/$name.log"; then result=skipped; fail "$name skipped on the GPU machine: $(grep -m1 -E 'SKIPPED|unavailable|GPU checks' "$OUT/$name.log")"
  elif [ $rc -ne 0 ]; then result=failed; fail "$name failed (rc $rc, see $name.log)"; tail -25 "$OUT/$name.log"
  fi
  log "$name: $result in ${secs}s"
  grep -E "worst cosine|detector: worst" "$OUT/$name.log" | tail -4 | sed 's/^/    /' || true
  tests_json+=("\"$name\": {\"result\": \"$result\", \"rc\": $rc, \"seconds\": $secs}")
}
log "CUDA tests first"
run_test cuda_plugin_test "$build/cuda_plugin_test"
run_test cuda_parity_test "$build/cuda_parity_test" --json "$OUT/parity.json"
# The same with every depthwise layer a kernel of its own: tells a broken
# fused kernel from the rest.
run_test cuda_parity_test_unfused env MFN_CUDA_FUSE=0 "$build/cuda_parity_test" --json "$OUT/parity-unfused.json"
# The simulator configuration on the real GPU: the same kernels without
# graphs must give the same answers (the small run a simulator would make,
# and a larger one).
run_test cuda_plugin_test_bar "$bar_build/cuda_plugin_test"
run_test cuda_parity_test_bar "$bar_build/cuda_parity_test" --crops 64 --batches 1,5,7,64 --json "$OUT/parity-bar.json"
log "the rest of ctest"
ctest_rc=0
(cd "$build" && timeout 600 ctest --output-on-failure --timeout 300 -j 4 -E '^cuda_(parity|plugin)_test$') \
  > "$OUT/ctest.log" 2>&1 || ctest_rc=$?
tail -15 "$OUT/ctest.log" | sed 's/^/    /'
[ $ctest_rc -eq 0 ] || fail "ctest failed (rc $ctest_rc, see ctest.log)"
tests_json+=("\"ctest\": {\"result\": \"$([ $ctest_rc -eq 0 ] && echo passed || echo failed)\", \"rc\": $ctest_rc}")
bar_rc=0
(cd "$bar_build" && ctest --output-on-failure -R '^cuda_plugin_build_test$') > "$OUT/ctest-bar.log" 2>&1 || bar_rc=$?
[ $bar_rc -eq 0 ] || fail "cuda_plugin_build_test of the simulator configuration failed (see ctest-bar.log)"
tests_json+=("\"plugin_build_bar\": {\"result\": \"$([ $bar_rc -eq 0 ] && echo passed || echo failed)\", \"rc\": $bar_rc}")
(IFS=,; echo "{${tests_json[*]}}") > "$OUT/tests.json"

# --- 5. benchmarks -------------------------------------------------------------------
sizes=${MFN_BENCH_SIZES:-1,2,4,8,16,32,64,128,256,512,1024}
log "mfn_check --bench $sizes, flip on and off, cuda"
"$build/mfn_check" --model models/mobilefacenet.onnx --crops "$crops" --backend cuda --plugin-dir "$(dirname "$plugin")" \
  --flip both --bench "$sizes" --iterations 30 --warmup 3 --json "$OUT/bench-cuda.json" > "$OUT/bench-cuda.log" 2>&1 \
  || fail "mfn_check cuda bench failed (see bench-cuda.log)"
cat "$OUT/bench-cuda.log"
"$build/mfn_check" --model models/mobilefacenet.onnx --crops "$crops" --backend cuda --plugin-dir "$(dirname "$plugin")" \
  --flip on --align --bench 1,64,1024 --iterations 20 --json "$OUT/bench-cuda-aligned.json" > "$OUT/bench-cuda-aligned.log" 2>&1 \
  || fail "mfn_check cuda aligned bench failed (see bench-cuda-aligned.log)"
log "mfn_check cuda without depthwise fusion (MFN_CUDA_FUSE=0), flip on"
MFN_CUDA_FUSE=0 "$build/mfn_check" --model models/mobilefacenet.onnx --crops "$crops" --backend cuda \
  --plugin-dir "$(dirname "$plugin")" --flip on --bench 1,16,256,1024 --iterations 20 \
  --json "$OUT/bench-cuda-unfused.json" > "$OUT/bench-cuda-unfused.log" 2>&1 \
  || fail "mfn_check cuda unfused bench failed (see bench-cuda-unfused.log)"
cat "$OUT/bench-cuda-unfused.log"
log "mfn_check cuda without CUDA graphs (simulator configuration), flip on: compare with bench-cuda.json"
"$build/mfn_check" --model models/mobilefacenet.onnx --crops "$crops" --backend cuda \
  --plugin-dir "$(dirname "$bar_plugin")" --flip on --bench 1,16,256 --iterations 30 --warmup 3 \
  --json "$OUT/bench-cuda-nographs.json" > "$OUT/bench-cuda-nographs.log" 2>&1 \
  || fail "mfn_check cuda no-graphs bench failed (see bench-cuda-nographs.log)"
cat "$OUT/bench-cuda-nographs.log"
log "mfn_check cpu (context only)"
timeout 120 "$build/mfn_check" --model models/mobilefacenet.onnx --crops "$crops" --backend cpu --flip off \
  --bench 1,16,64 --iterations 5 --warmup 1 --json "$OUT/bench-cpu.json" > "$OUT/bench-cpu.log" 2>&1 \
  || fail "mfn_check cpu bench failed (see bench-cpu.log)"

log "PyTorch peer"
if [ "$torch_version" = none ]; then
  fail "PyTorch not importable: no peer figures"
else
  timeout 270 python3 bench/peers/torch_peer.py --model models/mobilefacenet.onnx --crops "$crops" --bench "$sizes" \
    --flip both --iterations 30 --time-budget "${MFN_TORCH_BUDGET:-180}" --json "$OUT/torch-peer.json" \
    > "$OUT/torch-peer.log" 2>&1 || fail "torch peer failed (see torch-peer.log)"
  tail -50 "$OUT/torch-peer.log"
fi

# --- 6. optional Nsight Compute on the network's kernels (batch 256, flip) -----------
elapsed=$(($(date +%s) - started))
if command -v ncu >/dev/null && [ "$elapsed" -lt 390 ] && [ "${MFN_NCU:-1}" = 1 ]; then
  log "ncu: one batch-256 flip pass of every kernel"
  timeout 90 ncu --graph-profiling node --launch-skip 0 --launch-count 60 --section SpeedOfLight \
    --section Occupancy --csv "$build/mfn_check" --model models/mobilefacenet.onnx --crops "$crops" --backend cuda \
    --plugin-dir "$(dirname "$plugin")" --flip on --bench 256 --iterations 1 --warmup 0 > "$OUT/ncu.csv" 2> "$OUT/ncu.log" \
    || log "ncu did not finish (see ncu.log); not a failure"
else
  log "ncu skipped (not installed, MFN_NCU=0, or ${elapsed}s already spent)"
fi

write_summary
if [ "$status" != ok ]; then
  log "FAILED: ${failures[*]}"
  exit 1
fi
log "all checks passed"
