#!/usr/bin/env bash
# Create (or reuse) the virtual environment holding the official hi-ml-multimodal package, used as the
# oracle of the BioViL / BioViL-T parity tests (tests/parity/). Prints the venv path on its last line.
#   MSXR_ORACLE_VENV   where the venv lives (default ~/.cache/msxr-bench/oracle-venv)
#   MSXR_ORACLE_PYTHON the interpreter to build it from (default python3)
# The venv is rebuilt only when the requirement pins below (or the interpreter version) change.
# Safe to run concurrently (two test runs on one machine): a build holds an exclusive lock ($VENV.lock, flock
# through Python's fcntl, no flock(1) needed), happens in a fresh folder next to the target and is renamed
# into place only when complete, so a reader never sees a half-built venv; a second run waits, then reuses.
# (A renamed venv's console scripts keep the build folder in their shebangs: only bin/python is used.)
set -euo pipefail

VENV="${MSXR_ORACLE_VENV:-$HOME/.cache/msxr-bench/oracle-venv}"
VENV="${VENV%/}"
PY="${MSXR_ORACLE_PYTHON:-python3}"
TORCH_PIN="torch==2.13.0"
REQS=("hi-ml-multimodal==0.2.2" "transformers<5" "$TORCH_PIN")
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SHIM_DIR="$HERE/../tests/parity"
STAMP_NAME=".msxr-oracle-stamp"

py_version="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
stamp="$(printf '%s\n' "python$py_version" "${REQS[@]}" | sha256sum | cut -c1-16)"

check() {  # the oracle in venv $1 imports (shim first) and its versions are the pinned ones
  PYTHONPATH="$SHIM_DIR" "$1/bin/python" -W ignore::FutureWarning - <<'PY'
import tv_cpu_shim  # noqa: F401  (must come first)
import importlib.metadata as md
import health_multimodal.vlp.inference_engine  # noqa: F401
assert md.version("hi-ml-multimodal") == "0.2.2", md.version("hi-ml-multimodal")
assert md.version("transformers").startswith("4."), md.version("transformers")
assert md.version("torch").startswith("2.13.0"), md.version("torch")
PY
}

up_to_date() {
  [[ -f "$VENV/$STAMP_NAME" && "$(cat "$VENV/$STAMP_NAME")" == "$stamp" ]] && check "$VENV" 2>/dev/null
}

if up_to_date; then
  echo "oracle venv up to date" >&2
  echo "$VENV"
  exit 0
fi

mkdir -p "$(dirname "$VENV")"
exec 9>>"$VENV.lock"
# the lock is taken on fd 9, shared with this shell: it is held until the script exits
"$PY" -c '
import fcntl, sys
try:
    fcntl.flock(9, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print(f"waiting for {sys.argv[1]}: another run is building the oracle venv", file=sys.stderr)
    fcntl.flock(9, fcntl.LOCK_EX)
' "$VENV.lock"
if up_to_date; then
  echo "oracle venv built by another run meanwhile" >&2
  echo "$VENV"
  exit 0
fi

echo "building the oracle venv at $VENV (about a minute)" >&2
rm -rf "$VENV".build.*  # left by a build that was killed (only a lock holder builds)
build="$(mktemp -d "$VENV.build.XXXXXX")"
trap 'rm -rf "$build"' EXIT
"$PY" -m venv "$build"
quiet_pip() {  # this machine's pip config lists index folders that may not exist: drop those warnings
  "$build/bin/python" -m pip install --quiet --disable-pip-version-check "$@" \
    2> >(grep -v "is ignored: it is neither" >&2)
}
# torch first, pinned, so that the resolver never reaches for a CUDA build
quiet_pip "$TORCH_PIN"
quiet_pip "${REQS[@]}"
check "$build"
echo "$stamp" > "$build/$STAMP_NAME"
old=""
if [[ -e "$VENV" ]]; then
  old="$VENV.old.$$"
  mv "$VENV" "$old"
fi
mv "$build" "$VENV"
trap - EXIT
[[ -n "$old" ]] && rm -rf "$old"
echo "$VENV"
