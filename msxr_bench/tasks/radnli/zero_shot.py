"""`radnli-zs`: zero-shot text-embedding similarity on RadNLI (paper Table 4; text only, no images).

syn. sim. = mean cos(premise, hypothesis) over entailment pairs; contradiction gap = that minus the mean over
contradiction pairs. Fine-tuned RadNLI accuracy is the `radnli` task (`finetune.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from msxr_bench.data.nli import find_nli_file, load_nli
from msxr_bench.data.types import NLIPair
from msxr_bench.tasks.base import (
    Loaded, RowStatistic, Scored, Task, file_record, group_mean, label_column, number_column,
)
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.radnli.spec import RadnliZsParams
from msxr_bench.tasks.spec import ProtocolSpec

LABELS = ("entailment", "contradiction", "neutral")


class RadnliZeroShotTask(Task):
    def load(self, params: RadnliZsParams, protocol: ProtocolSpec, split: str, data_root: Path) -> Loaded:
        path = find_nli_file(data_root, f"radnli-{split}")
        pairs = load_nli(path)
        return Loaded(pairs, [p.pair_id for p in pairs], protocol.dataset_version, split,
                      [file_record(f"radnli-{split}", path)])

    def score(self, samples: Sequence[NLIPair], loaded: Loaded, params: RadnliZsParams, run: RunContext) -> Scored:
        policy = run.text_policy(run.adapter)
        memo = run.text_memo(run.adapter, policy, batch_size=max(run.batch_size, 32))
        premises = memo.embed([p.premise for p in samples])
        hypotheses = memo.embed([p.hypothesis for p in samples])
        cosine = (premises * hypotheses).sum(-1).double().cpu()  # embeddings are L2-normalised
        rows = [{"sample_id": p.pair_id, "label": p.label, "cosine": float(c), "premise": p.premise,
                 "hypothesis": p.hypothesis} for p, c in zip(samples, cosine)]
        scoring = {
            "similarity": "cosine of L2-normalised text embeddings (adapter.encode_texts), premise vs hypothesis",
            "synonym_similarity": "mean cosine over entailment pairs",
            "contradiction_gap": "mean cosine over entailment pairs minus mean over contradiction pairs",
            "ci": f"percentile bootstrap over samples, resampling pairs, {run.n_bootstrap} resamples, seed {run.seed}",
            "truncated_texts": policy.record(keep_text=run.keep_text),
        }
        return Scored(rows, scoring)

    def metrics(self, rows: Sequence[Mapping[str, Any]], scoring: Mapping[str, Any]) -> dict[str, RowStatistic]:
        labels = label_column(rows, "label", LABELS)
        member = {name: torch.tensor([lab == name for lab in labels], dtype=torch.float64) for name in LABELS}
        data = torch.stack([number_column(rows, "cosine", allow_null=False), member["entailment"],
                            member["contradiction"], member["neutral"]], dim=1)

        def mean_of(col: int):
            return lambda x, idx: group_mean(x[:, 0], x[:, col].bool(), idx)

        def gap(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            return group_mean(x[:, 0], x[:, 1].bool(), idx) - group_mean(x[:, 0], x[:, 2].bool(), idx)

        count = {name: int(m.sum()) for name, m in member.items()}
        return {
            "synonym_similarity": RowStatistic(data, mean_of(1), count["entailment"]),
            "contradiction_gap": RowStatistic(data, gap, count["entailment"] + count["contradiction"]),
            "contradiction_similarity": RowStatistic(data, mean_of(2), count["contradiction"]),
            "neutral_similarity": RowStatistic(data, mean_of(3), count["neutral"]),
        }

    def no_direction(self) -> frozenset[str]:
        return frozenset({"synonym_similarity", "contradiction_similarity", "neutral_similarity"})
