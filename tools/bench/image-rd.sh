#!/usr/bin/env bash
# Image rate–distortion bench (issue 4): yoz-dct vs cjpeg -optimize, cwebp, avifenc.
# Usage: tools/bench/image-rd.sh [--images DIR] [--out DIR] [--no-avif] [--yoz-only]
# Peers come from Debian: apt-get install -y libjpeg-turbo-progs webp libavif-bin
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --example image_rd >&2
exec target/release/examples/image_rd "$@"
