"""Tokenised NLI pairs and length-bucketed batches for fine-tuning a text encoder on NLI.

Pairs are tokenised once (premise = segment A, hypothesis = segment B, truncated to `max_length`),
then padded per batch; batches group pairs of similar length so that little compute goes to padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from msxr_bench.data.types import NLI_LABELS, NLIPair


@dataclass(frozen=True)
class EncodedPairs:
    """Token ids of NLI pairs (unpadded) and their label indices into NLI_LABELS."""

    pair_ids: tuple[str, ...]
    input_ids: tuple[tuple[int, ...], ...]
    token_type_ids: tuple[tuple[int, ...], ...] | None
    labels: torch.Tensor  # long [N]
    pad_token_id: int

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


def label_index(pair: NLIPair, source: str = "") -> int:
    """Index of the pair's gold label in NLI_LABELS; a clear error for anything else."""
    try:
        return NLI_LABELS.index(pair.label)
    except ValueError:
        where = f"{source}: " if source else ""
        raise ValueError(
            f"{where}pair {pair.pair_id!r} has label {pair.label!r}; expected one of {', '.join(NLI_LABELS)}"
        ) from None


def encode_pairs(tokenizer, pairs: list[NLIPair], max_length: int, source: str = "") -> EncodedPairs:
    """Tokenise (premise, hypothesis) pairs with the encoder's own tokenizer, truncating to `max_length`."""
    if not pairs:
        raise ValueError(f"{source or 'NLI data'}: no pairs to encode")
    labels = torch.tensor([label_index(p, source) for p in pairs], dtype=torch.long)
    enc = tokenizer(
        [p.premise for p in pairs],
        [p.hypothesis for p in pairs],
        truncation=True,
        max_length=max_length,
        padding=False,
    )
    token_types = enc.get("token_type_ids")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return EncodedPairs(
        pair_ids=tuple(p.pair_id for p in pairs),
        input_ids=tuple(tuple(ids) for ids in enc["input_ids"]),
        token_type_ids=None if token_types is None else tuple(tuple(t) for t in token_types),
        labels=labels,
        pad_token_id=int(pad_id),
    )


def collate(encoded: EncodedPairs, indices: list[int]) -> dict[str, torch.Tensor]:
    """Right-padded tensors for the pairs at `indices`: input_ids, attention_mask, (token_type_ids), labels."""
    width = max(len(encoded.input_ids[i]) for i in indices)
    ids = torch.full((len(indices), width), encoded.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(indices), width), dtype=torch.long)
    types = None if encoded.token_type_ids is None else torch.zeros((len(indices), width), dtype=torch.long)
    for row, i in enumerate(indices):
        n = len(encoded.input_ids[i])
        ids[row, :n] = torch.tensor(encoded.input_ids[i], dtype=torch.long)
        mask[row, :n] = 1
        if types is not None:
            types[row, :n] = torch.tensor(encoded.token_type_ids[i], dtype=torch.long)
    batch = {"input_ids": ids, "attention_mask": mask, "labels": encoded.labels[indices]}
    if types is not None:
        batch["token_type_ids"] = types
    return batch


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Evaluation batches: indices sorted by length (stable), cut into consecutive batches."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]


def bucketed_batches(
    lengths: list[int], batch_size: int, generator: torch.Generator, bucket_batches: int = 50
) -> list[list[int]]:
    """Training batches for one epoch: shuffle, sort within buckets of `bucket_batches` batches by
    length, cut into batches, shuffle the batch order. Deterministic for a given generator state."""
    perm = torch.randperm(len(lengths), generator=generator).tolist()
    span = batch_size * max(1, bucket_batches)
    batches: list[list[int]] = []
    for start in range(0, len(perm), span):
        bucket = sorted(perm[start : start + span], key=lambda i: lengths[i])
        batches.extend(bucket[s : s + batch_size] for s in range(0, len(bucket), batch_size))
    order = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in order]
