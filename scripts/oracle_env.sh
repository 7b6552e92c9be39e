#!/usr/bin/env bash
# Create (or reuse) the virtual environment holding the official hi-ml-multimodal package, used as the
# oracle of the BioViL / BioViL-T parity tests (tests/parity/). Prints the venv path on its last line.
#   MSXR_ORACLE_VENV   where the venv lives (default ~/.cache/msxr-bench/oracle-venv)
#   MSXR_ORACLE_PYTHON the interpreter to build it from (default python3)
# The venv is rebuilt only when the requirement pins below (or the interpreter version) change.
set -euo pipefail

VENV="${MSXR_ORACLE_VENV:-$HOME/.cache/msxr-bench/oracle-venv}"
PY="${MSXR_ORACLE_PYTHON:-python3}"
TORCH_PIN="torch==2.13.0"
REQS=("hi-ml-multimodal==0.2.2" "transformers<5" "$TORCH_PIN")
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SHIM_DIR="$HERE/../tests/parity"

py_version="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
stamp="$(printf '%s\n' "python$py_version" "${REQS[@]}" | sha256sum | cut -c1-16)"
stamp_file="$VENV/.msxr-oracle-stamp"

check() {  # the oracle imports (shim first) and its versions are the pinned ones
  PYTHONPATH="$SHIM_DIR" "$VENV/bin/python" -W ignore::FutureWarning - <<'PY'
import tv_cpu_shim  # noqa: F401  (must come first)
import importlib.metadata as md
import health_multimodal.vlp.inference_engine  # noqa: F401
assert md.version("hi-ml-multimodal") == "0.2.2", md.version("hi-ml-multimodal")
assert md.version("transformers").startswith("4."), md.version("transformers")
assert md.version("torch").startswith("2.13.0"), md.version("torch")
PY
}

if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" ]] && check 2>/dev/null; then
  echo "oracle venv up to date" >&2
  echo "$VENV"
  exit 0
fi

echo "building the oracle venv at $VENV (about a minute)" >&2
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
quiet_pip() {  # this machine's pip config lists index folders that may not exist: drop those warnings
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}
# torch first, pinned, so that the resolver never reaches for a CUDA build
quiet_pip "$TORCH_PIN"
quiet_pip "${REQS[@]}"
check
echo "$stamp" > "$stamp_file"
echo "$VENV"
