#!/usr/bin/env bash
# Archive benchmark: yoz pack/unpack at its defaults against the tools users compare it with,
# side by side in one run, on each tree: `tar | zstd -N -T0` (N = 3, 19, and -19 --long),
# `tar | xz -9 -T0`, `mksquashfs -comp zstd -Xcompression-level 19` (128K and 1M blocks) and
# `7z a -mx9`. Prints one Markdown table per tree: bytes, size relative to yoz at the same
# level, pack and unpack seconds. Then `yoz cat` of one small file (the random-read cost of the
# default block size). Mount latency is tools/bench/mount.sh.
#
# Usage: tools/bench/archive.sh [DIR...]
#   default trees: ../shared/corpus, /usr/include, /usr/share/doc, and 100,000 small generated
#   files (GEN=0 leaves that one out). Peers that are not installed are skipped with a note.
# Needs: tar, zstd, bc; optionally xz, mksquashfs/unsquashfs (squashfs-tools), 7z (p7zip-full).
# Times are one run each (REPS=N for the best of N), on a shared machine: read them as ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
Y=$PWD/target/release/yoz
SHARED=${SHARED:-$PWD/../shared}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
REPS=${REPS:-1}

dirs=("$@")
if [ ${#dirs[@]} -eq 0 ]; then
  for d in "$SHARED/corpus" /usr/include /usr/share/doc; do
    [ -d "$d" ] && dirs+=("$d")
  done
  if [ "${GEN:-1}" = 1 ]; then
    # 100,000 files of 60-3,000 bytes in 1,000 directories: text over a shared vocabulary,
    # reproducible (seeded), about 150 MB.
    python3 - "$work/small" <<'EOF'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(1234)
words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9)))
         for _ in range(3000)]
for d in range(1000):
    dd = os.path.join(root, "small", "d%03d" % d)
    os.makedirs(dd, exist_ok=True)
    for f in range(100):
        n = rnd.randint(60, 3000)
        out, size = [], 0
        while size < n:
            w = words[min(int(rnd.expovariate(1 / 300)), 2999)]
            out.append(w)
            size += len(w) + 1
        with open(os.path.join(dd, "f%03d.txt" % f), "w") as fh:
            fh.write(" ".join(out)[:n] + "\n")
EOF
    dirs+=("$work/small/small")
  fi
fi

# Best of $REPS wall-clock runs of a shell command line.
t() {
  local best="" s e d
  for _ in $(seq "$REPS"); do
    s=$(date +%s.%N); bash -c "$1" >/dev/null 2>&1; e=$(date +%s.%N)
    d=$(echo "$e - $s" | bc)
    if [ -z "$best" ] || [ "$(echo "$d < $best" | bc)" = 1 ]; then best=$d; fi
  done
  printf "%.2f" "$best"
}
have() { command -v "$1" >/dev/null 2>&1; }
size() { stat -c %s "$1"; }
row() { # tool bytes yoz_bytes pack unpack
  printf "| %s | %s | %+.1f %% | %s | %s |\n" "$1" "$2" "$(echo "($2 / $3 - 1) * 100" | bc -l)" "$4" "$5"
}

for d in "${dirs[@]}"; do
  name=$(basename "$d"); parent=$(dirname "$d")
  bytes=$(du -sb "$d" | cut -f1)
  echo
  echo "### $name ($d, $bytes bytes, $(find "$d" -type f | wc -l) files)"
  echo
  echo "| tool | bytes | size vs yoz at its level (+ = larger than yoz) | pack s | unpack s |"
  echo "|---|---:|---:|---:|---:|"
  for lvl in 3 19; do
    yp=$(t "cd '$parent' && '$Y' pack --force --level $lvl -o '$work/y$lvl.yoz' '$name'")
    yu=$(t "rm -rf '$work/uy' && '$Y' unpack -C '$work/uy' '$work/y$lvl.yoz'")
    ys=$(size "$work/y$lvl.yoz")
    printf "| **yoz --level %s** | **%s** | | %s | %s |\n" "$lvl" "$ys" "$yp" "$yu"
    eval "Y$lvl=$ys"
    zp=$(t "tar -C '$parent' -cf - '$name' | zstd -q -T0 -$lvl -o '$work/t.tzst' -f")
    zu=$(t "rm -rf '$work/ut' && mkdir '$work/ut' && zstd -q -d -T0 -c '$work/t.tzst' | tar -C '$work/ut' -xf -")
    row "tar \\| zstd -$lvl -T0" "$(size "$work/t.tzst")" "$ys" "$zp" "$zu"
  done
  lp=$(t "tar -C '$parent' -cf - '$name' | zstd -q -T0 -19 --long -o '$work/l.tzst' -f")
  row "tar \\| zstd -19 --long -T0" "$(size "$work/l.tzst")" "$Y19" "$lp" ""
  if have xz; then
    xp=$(t "tar -C '$parent' -cf - '$name' | xz -9 -T0 > '$work/t.txz'")
    xu=$(t "rm -rf '$work/ux' && mkdir '$work/ux' && xz -d -T0 -c '$work/t.txz' | tar -C '$work/ux' -xf -")
    row "tar \\| xz -9 -T0" "$(size "$work/t.txz")" "$Y19" "$xp" "$xu"
  else echo "| xz | not installed | | | |"; fi
  if have mksquashfs; then
    for b in 128K 1M; do
      sp=$(t "mksquashfs '$d' '$work/s.sq' -comp zstd -Xcompression-level 19 -b $b -noappend -quiet -no-progress")
      su=$(t "rm -rf '$work/us' && unsquashfs -q -d '$work/us' '$work/s.sq'")
      row "mksquashfs zstd 19, $b blocks" "$(size "$work/s.sq")" "$Y19" "$sp" "$su"
    done
  else echo "| mksquashfs | not installed | | | |"; fi
  if have 7z; then
    sp=$(t "rm -f '$work/a.7z' && cd '$parent' && 7z a -mx9 -bd '$work/a.7z' '$name'")
    su=$(t "rm -rf '$work/u7' && 7z x -bd -o'$work/u7' '$work/a.7z'")
    row "7z a -mx9" "$(size "$work/a.7z")" "$Y19" "$sp" "$su"
  else echo "| 7z | not installed | | | |"; fi
  # Random read: one small file out of the level-3 archive, a fresh process each time.
  f=$("$Y" list -l "$work/y3.yoz" | awk '$1 ~ /^-/ && $4 > 0 && $4 < 65536 {print $NF}' | sed -n 50p)
  if [ -n "$f" ]; then
    c=$(REPS=5 t "'$Y' cat '$work/y3.yoz' '$f'")
    echo
    echo "\`yoz cat\` of one small file from the level-3 archive (fresh process, best of 5): ${c} s"
  fi
done
