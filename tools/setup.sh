#!/usr/bin/env bash
# Installs what the neural codec needs at run time: ONNX Runtime's shared library, from the
# `onnxruntime` wheel on PyPI, into `.venv-ort/site/` (a `pip install --target` folder, so the
# library's path is fixed). Idempotent: a second run only checks. Prints the
# `export ORT_DYLIB_PATH=...` line for the library it installed.
#
# yoz never searches the checkout (or any folder above its executable) by itself: an archive
# extracted there could plant a library. `cargo run`/`cargo test` in this checkout get
# ORT_DYLIB_PATH from `.cargo/config.toml`, which names the same path as LIB below; other uses
# export the printed line.
#
# Needs python3 with pip and network access to PyPI only.
set -euo pipefail
ORT_VERSION=1.31.1
root="$(cd "$(dirname "$0")/.." && pwd)"
site="$root/.venv-ort/site"
# The wheel ships only the versioned file (no unversioned symlink).
lib="$site/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION"

if [ ! -f "$lib" ]; then
  rm -rf "$site"
  mkdir -p "$site"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
    --target "$site" "onnxruntime==$ORT_VERSION" >&2
fi
if [ ! -f "$lib" ]; then
  echo "setup: onnxruntime==$ORT_VERSION installed, but $lib is missing" >&2
  exit 1
fi
# Python's `safetensors` (and numpy, which it reads into), for the test that opens the
# canonical safetensors form of a neural payload's weights with the reference reader
# (codec-neural.md §5.2). Never loaded by yoz itself.
py="$root/.venv-ort/py"
if [ ! -f "$py/safetensors/__init__.py" ] || [ ! -d "$py/numpy" ]; then
  rm -rf "$py"
  mkdir -p "$py"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    --target "$py" "safetensors==0.8.0" "numpy==2.4.6" >&2
fi
echo "export ORT_DYLIB_PATH=$lib"
