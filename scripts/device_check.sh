#!/usr/bin/env bash
# Runs on a lent GPU machine (the device tool), in the repository root, what
# scripts/device_prepare.sh prepared: the adapter list, the full benchmark
# (JSON in $OUT/bench.json), the matmul suite without the tiled matmuls
# and again with naga's loop counter (MEDGPU_LOOP_BOUNDING=1) for
# comparison, and the GPU test binaries on Vulkan. Logs go to $OUT.
# PEAK_GFLOPS: the adapter's FP32 peak (default: 67000, the H200's data sheet).
# QUICK=1: bench --quick and the kernel tests only (a dry run, or little time).
set -uo pipefail
OUT=${OUT:-/tmp/medgpu-device}
mkdir -p "$OUT"
PEAK=${PEAK_GFLOPS:-67000}
start=$(date +%s)
stamp() { echo "== $(($(date +%s) - start)) s: $*"; }

tar -xzf .device/bundle.tgz -C .device
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
export WGPU_BACKEND=vulkan

# the tests were built elsewhere: give them that folder (data/, target/release/medgpu)
built=$(cat .device/manifest_dir)
mkdir -p target/release "$(dirname "$built")"
cp .device/medgpu target/release/medgpu
[ -e "$built" ] || ln -s "$PWD" "$built"

stamp devices
.device/medgpu devices 2>&1 | tee "$OUT/devices.txt"
quick=()
tests=(.device/tests/*)
if [ "${QUICK:-0}" = 1 ]; then
    quick=(--quick)
    tests=(.device/tests/kernels)
fi
stamp "bench ${quick[*]}"
timeout 240 .device/medgpu bench "${quick[@]}" --json "$OUT/bench.json" --peak-gflops "$PEAK" 2>&1 | tee "$OUT/bench.txt"
stamp "matmul suite without the tiled matmuls"
MEDGPU_TILED_MATMUL=0 timeout 60 .device/medgpu bench "${quick[@]}" --suite matmul --peak-gflops "$PEAK" 2>&1 | tee "$OUT/bench_untiled.txt"
stamp "matmul suite with naga's loop counter"
MEDGPU_LOOP_BOUNDING=1 timeout 60 .device/medgpu bench "${quick[@]}" --suite matmul --peak-gflops "$PEAK" 2>&1 | tee "$OUT/bench_loop_bounding.txt"
stamp tests
for t in "${tests[@]}"; do
    echo "-- $(basename "$t")"
    timeout 120 "$t" 2>&1 | grep -E "^test result|FAILED|panicked|failed" | head -20
done 2>&1 | tee "$OUT/tests.txt"
stamp done
