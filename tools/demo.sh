#!/usr/bin/env bash
# Builds yoz and runs its main job on the bundled sample tree: pack, verify, unpack, compare.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
Y=target/release/yoz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$Y pack -o "$work/samples.yoz" corpus/samples
$Y info "$work/samples.yoz"
$Y verify "$work/samples.yoz"
$Y unpack -C "$work/out" "$work/samples.yoz"
diff -r corpus/samples "$work/out/corpus/samples" && echo "roundtrip: identical"
