#!/usr/bin/env bash
# Benchmark of `yoz mount`: random 4 KiB read latency and sequential read speed on a mixed tree,
# side by side with the same tree on disk and with squashfuse on a squashfs image of it (yoz at
# level 3 with 128 KiB and 1 MiB blocks, and at level 19 with its default 8 MiB blocks), plus
# zstd's own single-thread decompression speed for reference.
#
# Usage: tools/bench/mount.sh [SIZE_MB] [WORKDIR]     (run as root; needs /dev/fuse)
#   SIZE_MB  size of the generated tree (default 1024)
#   WORKDIR  scratch space, about 4x SIZE_MB (default /tmp/yoz-bench-mount)
#   READS=N  random reads per configuration (default 2000)
# Needs: squashfs-tools squashfuse zstd (Debian packages), python3, rustc.
#
# Every measurement starts cold: a fresh mount (empty yoz block cache, no FUSE page cache) and
# `echo 3 > /proc/sys/vm/drop_caches` (the script says whether that worked; if not, the archive
# and the on-disk tree may be served from the page cache).
set -euo pipefail

SIZE_MB=${1:-1024}
WORK=${2:-/tmp/yoz-bench-mount}
READS=${READS:-2000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
YOZ=$ROOT/target/release/yoz

[ -x "$YOZ" ] || (cd "$ROOT" && cargo build --release)
mkdir -p "$WORK"
rustc -O -o "$WORK/preadbench" "$ROOT/tools/bench/preadbench.rs"
PB=$WORK/preadbench
MP=$WORK/mnt
mkdir -p "$MP"
cleanup() { mountpoint -q "$MP" && umount -l "$MP" || true; }
trap cleanup EXIT

drop_caches() {
  sync
  if echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then DROPPED=yes; else DROPPED=no; fi
}

# 1. A mixed tree: real files (libraries, binaries, docs, Rust sources: 60 %), incompressible
#    "media" files (15 %) and one large file of concatenated toolchain libraries (25 %) that
#    the sequential test reads.
TREE=$WORK/tree
if [ ! -f "$WORK/tree.done.$SIZE_MB" ]; then
  rm -rf "$TREE" "$WORK"/tree.done.*
  python3 - "$TREE" "$SIZE_MB" <<'PY'
import os, shutil, sys
tree, size = sys.argv[1], int(sys.argv[2]) << 20
os.makedirs(tree + "/large"); os.makedirs(tree + "/media")
def files(*roots):
    for r in roots:
        for d, subs, names in os.walk(r):
            subs.sort()
            for n in sorted(names):
                p = os.path.join(d, n)
                if os.path.isfile(p) and not os.path.islink(p):
                    yield p
# large file: concatenated toolchain libraries
with open(tree + "/large/large.bin", "wb") as out:
    left = size // 4
    for p in files(os.path.expanduser("~/.rustup/toolchains")):
        if left <= 0: break
        with open(p, "rb") as f: data = f.read(left)
        out.write(data); left -= len(data)
# media: incompressible
left, i = size * 15 // 100, 0
while left > 0:
    n = min(left, (1 + i % 8) << 20)
    with open(f"{tree}/media/m{i:03}.bin", "wb") as f: f.write(os.urandom(n))
    left -= n; i += 1
# real files
left = size * 60 // 100
for p in files("/usr/lib", "/usr/share", os.path.expanduser("~/.cargo/registry/src")):
    if left <= 0: break
    try: n = os.path.getsize(p)
    except OSError: continue
    if n > 64 << 20 or n > left: continue
    dst = tree + "/files" + p
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try: shutil.copyfile(p, dst)
    except OSError: continue
    left -= n
PY
  touch "$WORK/tree.done.$SIZE_MB"
fi
TREE_BYTES=$(du -sb "$TREE" | cut -f1)
NFILES=$(find "$TREE" -type f | wc -l)
LARGE=large/large.bin

# 2. Archives and images.
for bs in 128K 1M; do
  [ -f "$WORK/t$bs.yoz" ] || "$YOZ" pack --force --level 3 --block-size $bs -o "$WORK/t$bs.yoz" "$TREE" 2>&1 | tail -1
done
# Level 19 at its default block size (8 MiB): what the ratio default costs a random read.
[ -f "$WORK/tl19.yoz" ] || "$YOZ" pack --force --level 19 -o "$WORK/tl19.yoz" "$TREE" 2>&1 | tail -1
[ -f "$WORK/t.sqfs" ] || mksquashfs "$TREE" "$WORK/t.sqfs" -noappend -no-progress -quiet \
  -comp zstd -Xcompression-level 3 -b 131072 -no-xattrs >/dev/null
[ -f "$WORK/large.zst" ] || zstd -q -3 -T1 -f "$TREE/$LARGE" -o "$WORK/large.zst"

# 3. zstd reference: single-thread decompression of the large file, warm, to /dev/null. The
#    machine may be shared, so it is measured next to every configuration and the median kept.
LARGE_BYTES=$(stat -c %s "$TREE/$LARGE")
ZSTD_RUNS=()
zstd_ref() {
  cat "$WORK/large.zst" >/dev/null
  local t0 t1
  t0=$(date +%s.%N); zstd -q -d -T1 -c "$WORK/large.zst" >/dev/null; t1=$(date +%s.%N)
  ZSTD_RUNS+=("$(python3 -c "print(round($LARGE_BYTES / ($t1 - $t0) / 1e6))")")
}

# 4. Measurements. mount_cfg NAME sets DIR to the tree's root in the mounted view.
mount_cfg() {
  case $1 in
    disk) DIR=$TREE ;;
    yoz-128K) "$YOZ" mount "$WORK/t128K.yoz" "$MP"; DIR=$MP/tree ;;
    yoz-1M) "$YOZ" mount "$WORK/t1M.yoz" "$MP"; DIR=$MP/tree ;;
    yoz-l19) "$YOZ" mount "$WORK/tl19.yoz" "$MP"; DIR=$MP/tree ;;
    squashfuse) squashfuse "$WORK/t.sqfs" "$MP"; DIR=$MP ;;
  esac
}
umount_cfg() {
  case $1 in
    disk) ;;
    yoz-*) "$YOZ" umount "$MP" ;;
    *) umount "$MP" ;;
  esac
  # The next mount must not race the end of this one (seen with the level-19 archive).
  for _ in $(seq 100); do mountpoint -q "$MP" || break; sleep 0.1; done
  sleep 0.5
}
size_of() {
  case $1 in
    disk) echo "$TREE_BYTES" ;;
    yoz-128K) stat -c %s "$WORK/t128K.yoz" ;;
    yoz-1M) stat -c %s "$WORK/t1M.yoz" ;;
    yoz-l19) stat -c %s "$WORK/tl19.yoz" ;;
    squashfuse) stat -c %s "$WORK/t.sqfs" ;;
  esac
}

echo "tree: $NFILES files, $((TREE_BYTES >> 20)) MiB; large file $((LARGE_BYTES >> 20)) MiB; $READS random reads"
field() { sed "s/.*$1=\([0-9]*\).*/\1/" <<<"$2"; }
echo "| configuration | image MiB | cold ls -lR-style walk (ms) | random 4 KiB p50 (µs) | p99 (µs) | mean (µs) | sequential cold MB/s | sequential, image cached MB/s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for cfg in disk yoz-128K yoz-1M yoz-l19 squashfuse; do
  zstd_ref
  # cold: fresh mount and dropped page cache; metadata first, then data
  mount_cfg $cfg; drop_caches
  M=$("$PB" walk "$DIR")
  R=$("$PB" random "$DIR" "$READS" 12345)
  umount_cfg $cfg
  mount_cfg $cfg; drop_caches
  S=$("$PB" seq "$DIR/$LARGE")
  umount_cfg $cfg
  # image cached: fresh mount (empty FUSE and block caches), archive or tree in the page cache
  if [ $cfg = disk ]; then cat "$TREE/$LARGE" >/dev/null; else cat "$WORK"/t*.yoz "$WORK/t.sqfs" >/dev/null; fi
  mount_cfg $cfg
  W=$("$PB" seq "$DIR/$LARGE")
  umount_cfg $cfg
  echo "| $cfg | $(( $(size_of $cfg) >> 20 )) | $(field walk_ms "$M") | $(field p50_us "$R") | $(field p99_us "$R") | $(field mean_us "$R") | $(field mb_s "$S") | $(field mb_s "$W") |"
done
ZSTD_MBS=$(printf '%s\n' "${ZSTD_RUNS[@]}" | sort -n | sed -n "$(( (${#ZSTD_RUNS[@]} + 1) / 2 ))p")
echo "| zstd -d -T1 large file, in memory (median of ${#ZSTD_RUNS[@]}: ${ZSTD_RUNS[*]}) | $(( $(stat -c %s "$WORK/large.zst") >> 20 )) | | | | | | $ZSTD_MBS |"
echo "drop_caches worked: $DROPPED; load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"
