"""`text-intrinsics`: a text model's masked-token accuracy on MIMIC-CXR reports, tokens per FINDINGS section against
words, and its vocabulary size (BioViL paper Table 3, columns 2-3). Text only; rows hold counts per report (never
its text): masked positions, correct predictions, the most-frequent-token baseline's hits, words and tokens.

Words are BERT's basic pre-tokenisation, so the words a report has, and with whole-word masking the words chosen,
are the same for every model; each model then masks all word pieces of the chosen words in its own vocabulary.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from transformers.models.bert.tokenization_bert import BasicTokenizer

from msxr_bench.data.mimic import SPLIT_ALIASES, find_mimic_roots, load_mimic_pairs
from msxr_bench.data.reports import conclusion
from msxr_bench.data.types import SkipReport
from msxr_bench.tasks.base import Loaded, RowError, RowStatistic, Scored, Task, file_record, number_column
from msxr_bench.tasks.context import RunContext
from msxr_bench.tasks.spec import ProtocolSpec
from msxr_bench.tasks.text.spec import TextIntrinsicsParams

BASIC = BasicTokenizer(do_lower_case=False, tokenize_chinese_chars=True)


@dataclass(frozen=True)
class Report:
    study_id: str
    text: str  # the requested sections, joined
    findings: str | None


def report_words(text: str) -> list[str]:
    return BASIC.tokenize(text)


def masked_report(text: str, tokenizer, rng: np.random.Generator, p: float, masking: str,
                  max_len: int) -> tuple[list[int], list[int], int]:
    """(input ids with [MASK]s, labels (-100 where not predicted), pieces cut by the length limit)."""
    words = report_words(text)
    pieces = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(w)) for w in words]
    chosen = rng.random(len(words)) < p  # drawn over all words: the same words for every model
    if masking == "whole_word" and words and not chosen.any():
        chosen[int(rng.integers(len(words)))] = True
    ids, labels, budget, cut = [tokenizer.cls_token_id], [-100], max_len - 2, 0
    for word_chosen, word_pieces in zip(chosen, pieces):
        for piece in word_pieces:
            if budget == 0:
                cut += 1
                continue
            budget -= 1
            mask = word_chosen if masking == "whole_word" else rng.random() < p
            ids.append(tokenizer.mask_token_id if mask else piece)
            labels.append(piece if mask else -100)
    return ids + [tokenizer.sep_token_id], labels + [-100], cut


@torch.inference_mode()
def predictions(model, batch_ids: list[list[int]], labels: list[list[int]], pad_id: int,
                device: torch.device) -> list[list[int]]:
    """Top-1 predicted ids at the predicted positions of each sequence (the MLM head only where needed)."""
    width = max(len(s) for s in batch_ids)
    ids = torch.full((len(batch_ids), width), pad_id, dtype=torch.long)
    lab = torch.full((len(batch_ids), width), -100, dtype=torch.long)
    for i, (s, t) in enumerate(zip(batch_ids, labels)):
        ids[i, :len(s)], lab[i, :len(t)] = torch.tensor(s), torch.tensor(t)
    attention = (torch.arange(width)[None] < torch.tensor([len(s) for s in batch_ids])[:, None]).long()
    ids, attention, where = ids.to(device), attention.to(device), lab != -100
    if hasattr(model, "bert") and hasattr(model, "cls"):  # BertForMaskedLM: the head on masked states only
        hidden = model.bert(input_ids=ids, attention_mask=attention, return_dict=True).last_hidden_state
        top = model.cls(hidden[where.to(device)]).argmax(-1).cpu()
    else:
        top = model(input_ids=ids, attention_mask=attention).logits[where.to(device)].argmax(-1).cpu()
    counts = where.sum(1).tolist()
    return [chunk.tolist() for chunk in torch.split(top, counts)]


class TextIntrinsicsTask(Task):
    def load(self, params: TextIntrinsicsParams, protocol: ProtocolSpec, split: str, data_root: Path) -> Loaded:
        jpg, reports_root = find_mimic_roots(data_root)
        pairs, skips = load_mimic_pairs(jpg, reports_root, SPLIT_ALIASES.get(split, split), frontal_only=False,
                                        section=None, check_images=False)
        own = SkipReport(source="reports")
        samples, seen, fallback = [], set(), 0
        for pair in pairs:
            if pair.study_id in seen:
                continue
            seen.add(pair.study_id)
            text = " ".join(pair.sections[s].strip() for s in params.sections if (pair.sections.get(s) or "").strip())
            if not report_words(text):  # neither section: the report's official conclusion (last paragraph ...)
                text, fallback = conclusion(pair.sections).strip(), fallback + 1
            if not report_words(text):
                own.add("report without text", f"s{pair.study_id}")
                continue
            samples.append(Report(pair.study_id, text, (pair.sections.get("findings") or "").strip() or None))
        split_table = next(p for p in jpg.glob("mimic-cxr-2.0.0-split.csv*"))
        return Loaded(samples, [f"s{r.study_id}" for r in samples], protocol.dataset_version, split,
                      [file_record("split", split_table)], [skips, own], context={"conclusion_fallback": fallback})

    def score(self, samples: Sequence[Report], loaded: Loaded, params: TextIntrinsicsParams,
              run: RunContext) -> Scored:
        model, tokenizer = run.adapter.masked_lm()
        device = next(model.parameters()).device
        model.eval()
        max_len = int(getattr(model.config, "max_position_embeddings", 512))
        encoded = [masked_report(r.text, tokenizer, np.random.default_rng([params.mask_seed,
                                 zlib.crc32(r.study_id.encode())]), params.mask_probability, params.masking, max_len)
                   for r in samples]
        preds = []
        for lo in range(0, len(encoded), params.batch_size):
            part = encoded[lo:lo + params.batch_size]
            preds += predictions(model, [e[0] for e in part], [e[1] for e in part], tokenizer.pad_token_id, device)
        targets = [[t for t in e[1] if t != -100] for e in encoded]
        counts = Counter(t for ts in targets for t in ts)
        top = min(counts, key=lambda t: (-counts[t], t)) if counts else None
        rows = []
        for r, e, ts, ps in zip(samples, encoded, targets, preds):
            findings = r.findings
            rows.append({"sample_id": f"s{r.study_id}", "n_masked": len(ts),
                         "n_correct": sum(int(a == b) for a, b in zip(ts, ps)),
                         "n_correct_most_frequent": sum(int(t == top) for t in ts),
                         "n_words_findings": len(report_words(findings)) if findings else None,
                         "n_tokens_findings": len(tokenizer.tokenize(findings)) if findings else None,
                         "n_truncated_pieces": e[2]})
        scoring = {
            "sections": list(params.sections),
            "conclusion_fallback": f"{loaded.context['conclusion_fallback']} report(s) without any of the sections: "
                                   "their official conclusion (impression > findings > last paragraph > comparison) "
                                   "is masked instead",
            "masking": params.masking, "mask_probability": params.mask_probability,
            "mask_seed": params.mask_seed, "mask_rng": "numpy default_rng([mask_seed, crc32(study id)]) per report",
            "replacement": "every chosen piece becomes [MASK] (no random / kept tokens at evaluation)",
            "max_tokens": max_len, "words": "transformers BasicTokenizer (punctuation split, case kept)",
            "vocabulary_size": len(tokenizer), "most_frequent_token": tokenizer.convert_ids_to_tokens(top)
            if top is not None else None, "tokenizer_lower_case": bool(getattr(tokenizer, "do_lower_case", False)),
            "ci": f"percentile bootstrap over reports, {run.n_bootstrap} resamples, seed {run.seed}",
        }
        cut = sum(e[2] for e in encoded)
        notes = [f"{len(rows)} reports, {sum(len(t) for t in targets)} masked tokens"] + (
            [f"{cut} word pieces beyond the model's {max_len} positions were cut (not masked, not scored)"] if cut else [])
        return Scored(rows, scoring, notes=notes)

    def metrics(self, rows: Sequence[Mapping[str, Any]], scoring: Mapping[str, Any]) -> dict[str, RowStatistic]:
        cols = [number_column(rows, f, allow_null=f.endswith("_findings"))
                for f in ("n_masked", "n_correct", "n_correct_most_frequent", "n_words_findings", "n_tokens_findings")]
        data = torch.stack(cols, dim=1)
        vocab = scoring.get("vocabulary_size")
        if not isinstance(vocab, int):
            raise RowError("scoring.vocabulary_size: missing (the tokenizer's size is recorded there)")
        n, with_findings = data.shape[0], int(torch.isfinite(data[:, 3]).sum())

        def ratio(num: int):
            return lambda x, idx: x[:, num][idx].sum(-1) / x[:, 0][idx].sum(-1)

        def nanmean(col: int):
            return lambda x, idx: x[:, col][idx].nanmean(-1)

        def increase(x, idx):
            return 100 * (x[:, 4][idx].nanmean(-1) / x[:, 3][idx].nanmean(-1) - 1)

        return {
            "masked_token_accuracy": RowStatistic(data, ratio(1), n),
            "most_frequent_token_accuracy": RowStatistic(data, ratio(2), n, note="always the most frequent masked "
                                                         f"token ({scoring.get('most_frequent_token')!r})",
                                                         check_note=False),
            "avg_tokens_findings": RowStatistic(data, nanmean(4), with_findings),
            "avg_words_findings": RowStatistic(data, nanmean(3), with_findings),
            "token_increase_percent": RowStatistic(data, increase, with_findings),
            "vocabulary_size": RowStatistic(data, lambda x, idx: torch.full((idx.shape[0],), float(vocab),
                                                                           dtype=torch.float64), 1, with_ci=False,
                                            note="len(tokenizer)"),
        }

    def no_direction(self) -> frozenset[str]:
        return frozenset({"most_frequent_token_accuracy", "avg_tokens_findings", "avg_words_findings",
                          "token_increase_percent", "vocabulary_size"})
