#!/usr/bin/env bash
# Trainer speed and quality (issue 5): on the 512x512 centre crop of each image, the speed of bare
# training steps (it/s) with 2 threads and a full run of the preset (real PSNR/bpp), then the
# one-thread step speed.
# Usage: tools/bench/trainer.sh [--preset fast|medium|slow] [--quality Q] [--images DIR]
# The crops are made in memory; nothing is written (the dev photos are GPL/CC-BY-SA).
set -euo pipefail
cd "$(dirname "$0")/../.."
preset=fast quality=50 images=../shared/images/dev
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset=$2; shift 2 ;;
    --quality) quality=$2; shift 2 ;;
    --images) images=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
cargo build --release -p yoz-train >&2
target/release/yoz-train --bench --preset "$preset" --quality "$quality" -j 2 "$images"/*.png
# One thread: the step speed (and a short run) only.
target/release/yoz-train --bench --iterations 100 --quality "$quality" -j 1 "$images"/*.png
