"""msxr-bench: a model-agnostic evaluation harness for chest X-ray vision-language models.

    import msxr_bench
    results = msxr_bench.evaluate("biovil", tasks=["ms-cxr"], data_root="~/data", model_args={...})
    print(results["ms-cxr"])

Tasks: MS-CXR phrase grounding, RSNA pneumonia zero-shot classification/segmentation, RadNLI (`msxr_bench.TASKS`).
Nothing heavy is imported until used.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"
__all__ = ["TASKS", "EvaluationError", "PreflightError", "evaluate", "load_result", "preflight"]

_LAZY = {
    "evaluate": "msxr_bench.evaluation", "EvaluationError": "msxr_bench.evaluation",
    "preflight": "msxr_bench.preflight", "PreflightError": "msxr_bench.preflight",
    "TASKS": "msxr_bench.tasks.catalog", "load_result": "msxr_bench.results",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'msxr_bench' has no attribute {name!r}")
