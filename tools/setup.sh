#!/usr/bin/env bash
# Installs what the neural codec needs at run time: ONNX Runtime's shared library, from the
# `onnxruntime` wheel on PyPI, into the project-local venv `.venv-ort/`. Idempotent: a second run
# only checks. Prints the `export ORT_DYLIB_PATH=...` line for the library it installed (yoz also
# finds `.venv-ort` by itself when run from this checkout's `target/`, so the export is optional).
#
# Needs python3 and network access to PyPI only.
set -euo pipefail
ORT_VERSION=1.31.1
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-ort"

find_lib() {
  # The wheel ships only the versioned file (no unversioned symlink).
  find "$venv" -path '*/onnxruntime/capi/libonnxruntime.so.*' -type f 2>/dev/null | grep -F ".so.$ORT_VERSION" | head -n 1
}

lib="$(find_lib || true)"
if [ -z "$lib" ]; then
  if python3 -m venv "$venv" >/dev/null 2>&1 && [ -x "$venv/bin/pip" ]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "onnxruntime==$ORT_VERSION" >&2
  else
    # No venv module (e.g. Debian without python3-venv): a plain target directory works too,
    # since yoz only needs the shared library inside the wheel.
    rm -rf "$venv"
    mkdir -p "$venv"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps \
      --target "$venv/site" "onnxruntime==$ORT_VERSION" >&2
  fi
  lib="$(find_lib || true)"
fi
if [ -z "$lib" ]; then
  echo "setup: onnxruntime==$ORT_VERSION installed, but libonnxruntime.so.$ORT_VERSION is not under $venv" >&2
  exit 1
fi
echo "export ORT_DYLIB_PATH=$lib"
