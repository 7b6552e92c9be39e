"""Every task, by name, as its declaration (torch-free: `msxr-bench list`, `--help` and preflight read it)."""

from __future__ import annotations

from msxr_bench.tasks.grounding.box_spec import MS_CXR_BOXES, PADCHEST_GR
from msxr_bench.tasks.grounding.spec import MS_CXR
from msxr_bench.tasks.probe.spec import RSNA_CLS_PROBE, RSNA_SEG_PROBE
from msxr_bench.tasks.radnli.spec import RADNLI, RADNLI_ZS
from msxr_bench.tasks.rsna.spec import RSNA_CLS, RSNA_SEG
from msxr_bench.tasks.spec import TaskSpec
from msxr_bench.tasks.text.spec import TEXT_INTRINSICS
from msxr_bench.tasks.temporal.spec import MS_CXR_T_CLS, MS_CXR_T_SIM

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    MS_CXR, RSNA_CLS, RSNA_SEG, RADNLI_ZS, RADNLI,
    MS_CXR_BOXES, PADCHEST_GR,
    RSNA_CLS_PROBE, RSNA_SEG_PROBE, TEXT_INTRINSICS,
    MS_CXR_T_CLS, MS_CXR_T_SIM,
)}
