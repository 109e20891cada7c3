#!/usr/bin/env bash
# Lossless benchmark: yoz's own codecs (lz77 -9 / -1, huffman, lzr, cm) side by side with gzip, zstd,
# xz, bzip2 and brotli on
# a corpus, as Markdown tables on stdout (see examples/lossless_bench.rs for the method).
#
# Usage: tools/bench/lossless.sh [CORPUS_DIR] [extra lossless_bench args: --block N, --only lz77|huffman|lzr|lzr1|lzr2|cm|cm1|cm2|cm3,
#        --level N, --filter SUBSTRING]
# CORPUS_DIR defaults to ../shared/corpus relative to the repository; when it is absent the script
# says so and exits 0, so a checkout without ../shared still runs it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
corpus="${1:-$root/../shared/corpus}"
[ $# -gt 0 ] && shift
if [ ! -d "$corpus" ]; then
    echo "corpus directory $corpus not found; nothing to benchmark" >&2
    exit 0
fi
# Peers of the lzr and cm sections come from the package registry when we may install them.
missing=""
for pkg in xz-utils:xz bzip2:bzip2 brotli:brotli; do
    command -v "${pkg#*:}" >/dev/null || missing="$missing ${pkg%%:*}"
done
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq $missing >/dev/null 2>&1 || echo "note: could not install$missing" >&2
fi
for tool in gzip zstd xz bzip2 brotli; do
    command -v "$tool" >/dev/null || echo "note: $tool not installed; its columns will show '-'" >&2
done
cd "$root"
cargo build --quiet --release --example lossless_bench
echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(gzip --version | head -1); $(zstd --version)"
echo
exec "$root/target/release/examples/lossless_bench" "$corpus" "$@"
