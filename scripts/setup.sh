#!/usr/bin/env bash
# Create (or reuse) the project virtualenv in .venv with the CPU build of torch and msxr-bench installed.
# Override the interpreter with PYTHON=..., the location with MSXR_VENV=...
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${MSXR_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build on a machine without one.
# On a GPU machine, install the CUDA torch of your choice before running this script; it is kept.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  "$VENV/bin/pip" install -q --disable-pip-version-check "torch==2.13.0"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check -e ".[dev]"
echo "msxr-bench installed in $VENV ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
