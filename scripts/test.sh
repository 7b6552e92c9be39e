#!/usr/bin/env bash
# Set up everything the tests need (project venv, the hi-ml-multimodal oracle venv for BioViL parity)
# and run the whole test suite. This is the command README.md gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -f scripts/oracle_env.sh ]; then
  bash scripts/oracle_env.sh
fi
exec .venv/bin/python -m pytest "$@"
