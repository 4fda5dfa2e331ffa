#!/usr/bin/env bash
# Prepares, on a developer's machine, what scripts/device_check.sh needs on a
# lent GPU machine, which has no Rust toolchain and no network: the release
# binary and the GPU test binaries (stripped) in .device/, and the Vulkan
# loader's packages in .gl/ (both ignored by git through .git/info/exclude).
# Then, with the device tool: run(command="bash scripts/device_check.sh",
# carry=[".device", ".gl"], timeout_s=540). Same processor family (x86-64)
# on both machines.
set -euo pipefail
cd "$(dirname "$0")/.."
for d in /.device/ /.gl/; do
    grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >>.git/info/exclude
done

# the test files that exercise kernels and training on the adapter
TESTS=(kernels kernels_conv kernels_rnn gradients memory training cnn sequences pipeline_cache)

cargo build --release --bins
args=()
for t in "${TESTS[@]}"; do args+=(--test "$t"); done
exes=$(cargo test --release --no-run --message-format=json "${args[@]}" |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')
stage=$(mktemp -d)
mkdir -p "$stage/tests"
cp target/release/medgpu "$stage/medgpu"
for e in $exes; do
    name=$(basename "$e")
    name=${name%-*}
    # (the list also holds the medgpu binary built for the tests)
    if [[ " ${TESTS[*]} " == *" $name "* ]]; then cp "$e" "$stage/tests/$name"; fi
done
strip "$stage/medgpu" "$stage"/tests/*
# tests find data and the binary under the folder they were built in
pwd >"$stage/manifest_dir"
# one compressed bundle: the binaries alone are over the tool's 64 MiB
rm -rf .device
mkdir -p .device
tar -czf .device/bundle.tgz -C "$stage" .
rm -rf "$stage"
du -sh .device

if ! ls .gl/*.deb >/dev/null 2>&1; then
    mkdir -p .gl /tmp/amd64/partial
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
    apt-get "${o[@]}" update
    (cd .gl && apt-get "${o[@]}" download libvulkan1)
fi
ls .gl
