"""`radnli-zs`: zero-shot text-embedding similarity on RadNLI (paper Table 4; text only, no images).

syn. sim. = mean cos(premise, hypothesis) over entailment pairs; contradiction gap = that minus the mean over
contradiction pairs. Fine-tuned RadNLI accuracy is a separate (training) task.
"""

from __future__ import annotations

import torch

from msxr_bench.data.nli import find_nli_file, load_nli
from msxr_bench.engine import TextLengthPolicy, prepare_adapter
from msxr_bench.results import DatasetInfo, TaskResult
from msxr_bench.tasks.aggregate import bootstrap_metric, group_mean
from msxr_bench.hashing import sample_ids_sha256
from msxr_bench.tasks.assemble import RunClock, apply_limit, build_result, file_record
from msxr_bench.tasks.providers import text_memo
from msxr_bench.tasks.spec import EvalContext, TaskSpec


def run_radnli_zs(spec: TaskSpec, ctx: EvalContext) -> TaskResult:
    clock = RunClock()
    split = ctx.split or spec.dataset.default_split
    if split not in spec.dataset.splits:
        raise ValueError(f"radnli-zs: unknown split {split!r}; RadNLI has {', '.join(spec.dataset.splits)}")
    path = find_nli_file(ctx.data_root, f"radnli-{split}")
    available = load_nli(path)
    pairs = apply_limit(available, ctx.limit, f"RadNLI {split} ({path})")

    adapter = prepare_adapter(ctx.adapter, ctx.runtime)
    policy = TextLengthPolicy.for_adapter(adapter, ctx.truncate_long_phrases)
    memo = text_memo(ctx, adapter, policy, batch_size=max(ctx.batch_size, 32))
    premises = memo.embed([p.premise for p in pairs])
    hypotheses = memo.embed([p.hypothesis for p in pairs])
    cosine = (premises * hypotheses).sum(-1).double().cpu()  # embeddings are L2-normalised
    labels = [p.label for p in pairs]
    is_ = {name: torch.tensor([lab == name for lab in labels]) for name in ("entailment", "contradiction", "neutral")}

    def gap(idx: torch.Tensor) -> torch.Tensor:
        return group_mean(cosine, is_["entailment"], idx) - group_mean(cosine, is_["contradiction"], idx)

    metrics = {
        "synonym_similarity": bootstrap_metric(lambda idx: group_mean(cosine, is_["entailment"], idx), len(pairs), ctx,
                                               n=int(is_["entailment"].sum())),
        "contradiction_gap": bootstrap_metric(gap, len(pairs), ctx,
                                              n=int((is_["entailment"] | is_["contradiction"]).sum())),
        "contradiction_similarity": bootstrap_metric(lambda idx: group_mean(cosine, is_["contradiction"], idx),
                                                     len(pairs), ctx, n=int(is_["contradiction"].sum())),
        "neutral_similarity": bootstrap_metric(lambda idx: group_mean(cosine, is_["neutral"], idx), len(pairs), ctx,
                                               n=int(is_["neutral"].sum())),
    }
    rows = [{"sample_id": p.pair_id, "label": p.label, "cosine": float(c)} for p, c in zip(pairs, cosine)]
    dataset = DatasetInfo(
        name=spec.dataset.name, version=spec.dataset.default_version, split=split,
        sample_ids_sha256=sample_ids_sha256([p.pair_id for p in pairs]), n_samples_available=len(available),
        n_samples=len(pairs), n_scored=len(rows), limit=ctx.limit, files=[file_record(f"radnli-{split}", path)],
    )
    scoring = {
        "similarity": "cosine of L2-normalised text embeddings (adapter.encode_texts), premise vs hypothesis",
        "synonym_similarity": "mean cosine over entailment pairs",
        "contradiction_gap": "mean cosine over entailment pairs minus mean over contradiction pairs",
        "ci": f"{spec.defaults['ci_method']}, resampling pairs, {ctx.n_bootstrap} resamples, seed {ctx.seed}",
        "truncated_texts": policy.record(),
    }
    return build_result(spec, ctx, clock, dataset=dataset, scoring=scoring, metrics=metrics, samples=rows)
