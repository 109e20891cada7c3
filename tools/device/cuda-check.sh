#!/usr/bin/env bash
# The `--device cuda` check of issue 11: every neural conformance vector decoded by ONNX
# Runtime's CUDA provider must pass the corpus (pixels within codec-neural.md §7's tolerance of
# the reference) and match yoz's CPU decode; plus decode times of real 768x512 archives.
#
#   tools/device/cuda-check.sh prep [ARCHIVE.yoz ...]   # here: fills .gpu/ (git-ignored)
#   tools/device/cuda-check.sh run                      # on the GPU machine, in the checkout
#
# `prep` needs pip access to PyPI. It takes `libonnxruntime_providers_cuda.so` from the
# `onnxruntime-gpu` wheel and zeroes the GPU code of every architecture but sm_90 (H100/H200)
# in its fatbinaries: the CUDA runtime picks the cubin of the device's own architecture, and
# zeroed cubins compress to nothing, which brings the provider from 187 MB (zstd) to 51 MB
# (xz), inside the device machine's 64 MiB transfer limit. The result runs on sm_90 only.
# `run` needs an NVIDIA driver for CUDA 13 and the CUDA 13 libraries of PyPI's `nvidia-*`
# wheels (cublas, cudart, curand, cufft, cudnn) in the machine's Python site-packages.
set -uo pipefail
ORT_VERSION=1.31.1
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root" || exit 1
G=.gpu

prep() {
  set -e
  rm -rf "$G" && mkdir -p "$G"
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 -d "$tmp" "onnxruntime-gpu==$ORT_VERSION"
  (cd "$tmp" && unzip -q -o ./*.whl 'onnxruntime/capi/*.so*')
  python3 - "$tmp/onnxruntime/capi/libonnxruntime_providers_cuda.so" "$tmp/cuda90.so" <<'EOF'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
shoff = struct.unpack_from('<Q', b, 0x28)[0]
shentsize, shnum, shstrndx = struct.unpack_from('<HHH', b, 0x3A)
secs = [struct.unpack_from('<IIQQQQ', b, shoff + i * shentsize) for i in range(shnum)]
stro = secs[shstrndx][4]
name = lambda s: b[stro + s[0]:b.index(0, stro + s[0])].decode()
fb = [s for s in secs if name(s) == '.nv_fatbin'][0]
off, size = fb[4], fb[5]
p, kept, zeroed = off, 0, 0
while p < off + size:
    magic, ver, hs, fs = struct.unpack_from('<IHHQ', b, p)
    if magic != 0xBA55ED50:  # padding between fatbinaries
        p += 8
        continue
    q = p + hs
    while q < p + hs + fs:
        kind, ev, ehs, pad, _, _, _, _, sm = struct.unpack_from('<HHIIIIIII', b, q)
        if sm != 90:
            b[q + ehs:q + ehs + pad] = bytes(pad)
            zeroed += pad
        else:
            kept += pad
        q += ehs + pad
    p += hs + fs
if kept == 0:
    sys.exit('no sm_90 code in the provider')
print(f'sm_90 code kept: {kept/1e6:.1f} MB, other architectures zeroed: {zeroed/1e6:.1f} MB')
open(sys.argv[2], 'wb').write(b)
EOF
  xz -T2 -9e --x86 --lzma2=preset=9e -c "$tmp/cuda90.so" >"$G/cuda.xz"
  xz -T2 -9e --x86 --lzma2=preset=9e -c "$tmp/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" >"$G/ort.xz"
  xz -9e -c "$tmp/onnxruntime/capi/libonnxruntime_providers_shared.so" >"$G/shared.xz"
  cargo build --release --quiet --bin yoz
  strip -o "$tmp/yoz" target/release/yoz
  xz -9e --x86 --lzma2=preset=9e -c "$tmp/yoz" >"$G/yoz.xz"
  for a in "$@"; do cp "$a" "$G/"; done
  rm -rf "$tmp"
  du -cb "$G"/* | tail -1
  echo "carry $G to the GPU machine (it is git-ignored) and run: tools/device/cuda-check.sh run"
}

# xz where the machine has it, else Python's lzma (the same format, x86 filter included).
unxz_to() {
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"; else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  fi
}

run() {
  local W=/tmp/yoz-gpu fail=0
  rm -rf "$W" && mkdir -p "$W/lib"
  unxz_to "$G/cuda.xz" "$W/lib/libonnxruntime_providers_cuda.so" || exit 1
  unxz_to "$G/ort.xz" "$W/lib/libonnxruntime.so.$ORT_VERSION" || exit 1
  unxz_to "$G/shared.xz" "$W/lib/libonnxruntime_providers_shared.so" || exit 1
  unxz_to "$G/yoz.xz" "$W/yoz" && chmod +x "$W/yoz" || exit 1
  export ORT_DYLIB_PATH="$W/lib/libonnxruntime.so.$ORT_VERSION"
  local libs
  libs=$(python3 -c '
import glob, os, site
ds = {os.path.dirname(f) for sp in site.getsitepackages()
      for f in glob.glob(sp + "/nvidia/**/lib*.so*", recursive=True)}
print(":".join(sorted(ds)))')
  export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  nvidia-smi -L
  echo "CUDA library folders: $libs"
  ldd "$W/lib/libonnxruntime_providers_cuda.so" | grep "not found" && echo "(the provider lacks the libraries above)"
  "$W/yoz" doctor
  "$W/yoz" doctor | grep -q "CUDA provider: available" || { echo "FAIL: no CUDA provider"; fail=1; }

  echo "== 1. the conformance corpus, neural entries decoded on CUDA"
  cat >"$W/yoz-cuda" <<EOF
#!/bin/sh
if [ "\$1" = unpack ]; then shift; exec "$W/yoz" unpack --device cuda "\$@"; fi
exec "$W/yoz" "\$@"
EOF
  chmod +x "$W/yoz-cuda"
  "$W/yoz" conform --impl "$W/yoz-cuda" corpus || { echo "FAIL: conform on cuda"; fail=1; }

  echo "== 2. each neural vector: cuda against cpu (yoz's kernels) and ort-cpu, per channel"
  for v in corpus/valid/lossy-neural*.yoz; do
    for d in cpu ort-cpu cuda; do
      rm -rf "$W/out-$d"
      if ! "$W/yoz" unpack -v --device "$d" -C "$W/out-$d" "$v" >"$W/log-$d" 2>&1; then
        echo "FAIL: $v on $d"; cat "$W/log-$d"; fail=1
      fi
    done
    grep -q "on cuda" "$W/log-cuda" || { echo "FAIL: $v: -v does not say cuda ran"; fail=1; }
    grep "neural decode" "$W/log-cuda"
    python3 - "$v" "$W/out-cpu" "$W/out-ort-cpu" "$W/out-cuda" <<'EOF' || fail=1
import sys, pathlib
import numpy as np
from PIL import Image
v, cpu, ortc, cuda = sys.argv[1], *map(pathlib.Path, sys.argv[2:])
bad = False
for f in sorted(cpu.rglob('*.png')):
    rel = f.relative_to(cpu)
    a = np.asarray(Image.open(f)).astype(int)
    for name, d in (('ort-cpu', ortc), ('cuda', cuda)):
        if not (d / rel).exists():
            print(f'FAIL {v} {rel}: {name} wrote no file'); bad = True; continue
        b = np.asarray(Image.open(d / rel)).astype(int)
        if a.shape != b.shape:
            print(f'FAIL {v} {rel}: {name} shape {b.shape} vs cpu {a.shape}'); bad = True; continue
        diff = np.abs(a - b)
        print(f'{v} {rel} {a.shape}: {name} vs cpu max {diff.max()}, pixels differing {int((diff > 0).sum())} of {diff.size}')
        if diff.max() > 2:  # each within 1 of the exact value (codec-neural.md §7)
            bad = True
sys.exit(1 if bad else 0)
EOF
  done

  echo "== 3. decode times of real archives (fresh process each: yoz cat -v)"
  for a in "$G"/*.yoz; do
    [ -f "$a" ] || continue
    local e
    e=$("$W/yoz" list "$a" | head -1)
    for d in cuda cuda cuda ort-cpu cpu; do
      local t0 t1
      t0=$(date +%s%N)
      "$W/yoz" cat -v --device "$d" "$a" "$e" >"$W/$d.png" 2>"$W/err" || { cat "$W/err"; fail=1; }
      t1=$(date +%s%N)
      echo "$a $d: process wall $(((t1 - t0) / 1000000)) ms; $(cat "$W/err")"
    done
    python3 -c "
import numpy as np, sys
from PIL import Image
a = np.asarray(Image.open('$W/cpu.png')).astype(int); b = np.asarray(Image.open('$W/cuda.png')).astype(int)
d = np.abs(a - b); print('$a cuda vs cpu: max', d.max(), 'differing', int((d > 0).sum()), 'of', d.size)
sys.exit(1 if d.max() > 2 else 0)" || fail=1
  done
  [ "$fail" = 0 ] && echo "cuda-check: all passed" || echo "cuda-check: FAILED"
  return "$fail"
}

case "${1:-}" in
  prep) shift; prep "$@" ;;
  run) run ;;
  *) echo "usage: $0 prep [ARCHIVE.yoz ...] | run" >&2; exit 2 ;;
esac
