#!/usr/bin/env bash
# Image rate–distortion bench (issue 4): yoz-dct vs cjpeg -optimize, cwebp, avifenc.
# Usage: tools/bench/image-rd.sh [--images DIR] [--out DIR] [--no-avif] [--yoz-only]
#        [--neural fast,slow --neural-q 30,50,70,90 [--keep-payloads DIR]]
# Peers come from Debian: apt-get install -y libjpeg-turbo-progs webp libavif-bin
set -euo pipefail
cd "$(dirname "$0")/../.."
# The trainer too: image_rd runs the yoz-train beside it, which a build of the example alone
# leaves stale (a stale trainer once wrote payloads the freshly built decoder could not read).
cargo build --release --example image_rd -p yoz >&2 && cargo build --release -p yoz-train >&2
# yoz never searches the checkout for ONNX Runtime; tools/setup.sh's library unless set.
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$PWD/.venv-ort/site/onnxruntime/capi/libonnxruntime.so.1.31.1}"
exec target/release/examples/image_rd "$@"
