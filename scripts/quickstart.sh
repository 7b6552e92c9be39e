#!/usr/bin/env bash
# Set up .venv and run the main job on the bundled sample: evaluate the tiny BioViL trained on the toy
# CXR world (fixtures/models/tiny-biovil) on the bundled toy-world datasets (fixtures/toyworld), fully
# offline. Results JSONs, tables and heatmaps land in runs/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT=${1:-runs/quickstart}
.venv/bin/msxr-bench evaluate \
  --model biovil --model-arg checkpoint=fixtures/models/tiny-biovil \
  --task ms-cxr --task rsna-cls --task rsna-seg --task radnli-zs \
  --split rsna-cls=all --split rsna-seg=all \
  --data-root fixtures/toyworld --output "$OUT" --save-heatmaps 6 --num-workers 2
echo "Results: $OUT/biovil/*.json; heatmaps: $OUT/biovil/heatmaps/"
