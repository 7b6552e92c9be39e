"""The verdict of one reproduced cell: the paper's value, the measured one with its CI, their difference, and
whether they agree — by one rule, written into every report (`RULE`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from msxr_bench.published.values import PublishedValue

Verdict = Literal["agrees", "differs", "protocol differs", "not run"]
RULE = ("agrees when |measured - paper| <= max(half the width of the measured 95% CI, the paper's ± spread, half a "
        "unit of the paper's last printed digit); differs otherwise; protocol differs when the paper's protocol "
        "cannot be rebuilt from public files (the reason is given): the difference is shown, not judged; not run "
        "when the data or the model is missing (the reason is given)")


@dataclass(frozen=True)
class Comparison:
    value: PublishedValue
    model: str  # the adapter (label) that played the paper's method; "" when not run
    measured: float | None
    ci: tuple[float, float] | None
    verdict: Verdict
    reason: str = ""

    @property
    def diff(self) -> float | None:
        return None if self.measured is None else self.measured - self.value.number

    @property
    def tolerance(self) -> float | None:
        """max(CI half-width, paper spread, half unit of the last printed digit)."""
        if self.measured is None:
            return None
        half_ci = (self.ci[1] - self.ci[0]) / 2 if self.ci and None not in self.ci else 0.0
        return max(half_ci, self.value.spread or 0.0, self.value.half_unit)


def judge(value: PublishedValue, model: str, measured: float | None, ci: tuple[float, float] | None,
          protocol_differs: str | None = None, not_run: str | None = None) -> Comparison:
    """The comparison of one published value with one measurement (None: not measured, `not_run` says why)."""
    if measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return Comparison(value, model, None, None, "not run", not_run or "no measured value (undefined)")
    probe = Comparison(value, model, float(measured), ci, "agrees")
    if protocol_differs:
        return Comparison(value, model, float(measured), ci, "protocol differs", protocol_differs)
    ok = abs(probe.diff) <= probe.tolerance + 1e-12
    return Comparison(value, model, float(measured), ci, "agrees" if ok else "differs")
