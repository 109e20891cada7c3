#!/usr/bin/env bash
# Archive benchmark (foundation issue): yoz pack/unpack vs tar | zstd -T0 at the same level,
# side by side in one run, on a directory (default ../shared/corpus) and on a tree of small
# files (the Python stdlib from ../shared/corpus/python3.11_stdlib_src.tar, unpacked).
# Usage: tools/bench/archive.sh [DIR...]   Prints a Markdown table. Needs tar, zstd and bc.
# Times are the best of REPS (default 3) runs; pack times include yoz's fsync before rename.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
Y=$PWD/target/release/yoz
SHARED=${SHARED:-$PWD/../shared}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dirs=("$@")
if [ ${#dirs[@]} -eq 0 ]; then
  [ -d "$SHARED/corpus" ] || { echo "no ../shared/corpus; pass directories" >&2; exit 1; }
  mkdir -p "$work/stdlib"
  tar -xf "$SHARED/corpus/python3.11_stdlib_src.tar" -C "$work/stdlib"
  dirs=("$SHARED/corpus" "$work/stdlib")
fi
# Best of $REPS wall-clock runs (the machine is shared; the minimum is the least disturbed).
REPS=${REPS:-3}
t() {
  local best="" s e d
  for _ in $(seq "$REPS"); do
    s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    d=$(echo "$e - $s" | bc)
    if [ -z "$best" ] || [ "$(echo "$d < $best" | bc)" = 1 ]; then best=$d; fi
  done
  echo "$best"
}
echo "| tree | level | tar+zstd bytes | yoz bytes | size ratio | pack time yoz/tar+zstd | unpack time yoz/tar+zstd |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for d in "${dirs[@]}"; do
  name=$(basename "$d")
  parent=$(dirname "$d")
  for lvl in 3 19; do
    sync
    # Level 19 takes minutes per run: one run unless REPS19 says otherwise.
    if [ "$lvl" = 19 ]; then REPS=${REPS19:-1}; else REPS=${REPS3:-3}; fi
    tp=$(t bash -c "tar -C '$parent' -cf - '$name' | zstd -q -T0 -$lvl -o '$work/t.tzst' -f")
    yp=$(t bash -c "cd '$parent' && '$Y' pack --force --codec zstd --level $lvl -o '$work/y.yoz' '$name'")
    mkdir -p "$work/ut"
    tu=$(t bash -c "rm -rf '$work/ut'; mkdir -p '$work/ut'; zstd -q -d -T0 -c '$work/t.tzst' | tar -C '$work/ut' -xf -")
    yu=$(t bash -c "rm -rf '$work/uy'; '$Y' unpack -C '$work/uy' '$work/y.yoz'")
    ts=$(stat -c %s "$work/t.tzst"); ys=$(stat -c %s "$work/y.yoz")
    printf "| %s | %s | %d | %d | %.4f | %.2f (%.2fs/%.2fs) | %.2f (%.2fs/%.2fs) |\n" "$name" "$lvl" "$ts" "$ys" \
      "$(echo "$ys/$ts" | bc -l)" "$(echo "$yp/$tp" | bc -l)" "$yp" "$tp" "$(echo "$yu/$tu" | bc -l)" "$yu" "$tu"
  done
  tl=$(t bash -c "tar -C '$parent' -cf - '$name' | zstd -q -T0 -19 --long -o '$work/l.tzst' -f")
  printf "| %s | 19 --long (reference) | %d | | | (%.2fs) | |\n" "$name" "$(stat -c %s "$work/l.tzst")" "$tl"
  for bs in 128K 4M 16M; do
    "$Y" pack --force --codec zstd --level 19 --block-size $bs -o "$work/b.yoz" "$d" >/dev/null 2>&1
    printf "| %s | 19, block %s | | %d | | | |\n" "$name" "$bs" "$(stat -c %s "$work/b.yoz")"
  done
done
