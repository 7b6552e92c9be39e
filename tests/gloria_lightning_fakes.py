"""Writing GLoRIA checkpoints in the released structure without PyTorch Lightning or OmegaConf installed.

A PyTorch-Lightning 1.1.4 `dump_checkpoint` of `PretrainModel` holds: epoch, global_step,
pytorch-lightning_version, callbacks (keyed by callback *class*), optimizer_states, lr_schedulers,
native_amp_scaling_state, state_dict (`gloria.`-prefixed), hparams_name, hyper_parameters (the training
config as an OmegaConf 2.0 `DictConfig`) and hparams_type (the DictConfig class). The stand-in classes below
pickle the way OmegaConf 2.0 containers do (`__dict__` with `_metadata`, `_parent`, `_content`; value
nodes with `_val`; dataclass metadata holding `typing.Any`), registered under the real module names in
`sys.modules` only while pickling.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import tempfile
import types
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

# configs/chexpert_pretrain_config.yaml of marshuang80/gloria @ 416466a (the released model's training config)
UPSTREAM_CONFIG = {
    "experiment_name": "gloria_pretrain", "phase": "pretrain",
    "lightning": {"trainer": {"gpus": "1", "max_epochs": 50, "distributed_backend": "dp", "gradient_clip_val": 0.25,
                              "lr": 0.00005, "precision": 16},
                  "checkpoint_callback": {"monitor": "val_loss", "dirpath": "./data/ckpt", "save_last": True,
                                          "mode": "min", "save_top_k": 10}},
    "model": {"norm": False,
              "gloria": {"local_loss_weight": 1.0, "global_loss_weight": 1.0, "temp1": 4.0, "temp2": 5.0, "temp3": 10.0},
              "vision": {"model_name": "resnet_50", "freeze_cnn": False, "pretrained": True},
              "text": {"bert_type": "emilyalsentzer/Bio_ClinicalBERT", "last_n_layers": 4, "aggregate_method": "sum",
                       "norm": False, "embedding_dim": 768, "freeze_bert": False, "agg_tokens": True}},
    "data": {"dataset": "chexpert", "text": {"word_num": 97, "captions_per_image": 5, "full_report": False},
             "image": {"imsize": 256}},
    "transforms": {"norm": "half", "random_crop": {"crop_size": 224}},
    "train": {"batch_size": 48, "optimizer": {"name": "Adam", "weight_decay": 1e-6},
              "scheduler": {"name": "plateau", "monitor": "val_loss"}},
}


@dataclass
class Metadata:
    ref_type: Any
    object_type: Any
    optional: bool
    key: Any
    flags: dict = field(default_factory=dict)


@dataclass
class ContainerMetadata(Metadata):
    key_type: Any = None
    element_type: Any = None


class _Container:
    def __getstate__(self) -> dict:  # OmegaConf 2.0 BaseContainer.__getstate__
        return self.__dict__

    def __setstate__(self, d: dict) -> None:
        self.__dict__.update(d)


class DictConfig(_Container):
    pass


class ListConfig(_Container):
    pass


class AnyNode(_Container):
    pass


class ModelCheckpoint:
    pass


class EarlyStopping:
    pass


_PLACES = {
    "omegaconf.base": (Metadata, ContainerMetadata), "omegaconf.dictconfig": (DictConfig,),
    "omegaconf.listconfig": (ListConfig,), "omegaconf.nodes": (AnyNode,),
    "pytorch_lightning.callbacks.model_checkpoint": (ModelCheckpoint,),
    "pytorch_lightning.callbacks.early_stopping": (EarlyStopping,),
}


@contextlib.contextmanager
def fake_lightning_modules() -> Iterator[None]:
    """Register the stand-in classes under OmegaConf / Lightning module names for the duration of pickling."""
    names = ["omegaconf", "pytorch_lightning", "pytorch_lightning.callbacks", *_PLACES]
    saved = {n: sys.modules.get(n) for n in names}
    try:
        for name in names:
            sys.modules[name] = types.ModuleType(name)
        for module, classes in _PLACES.items():
            for cls in classes:
                cls.__module__ = module
                setattr(sys.modules[module], cls.__name__, cls)
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def omegaconf_node(value: Any, key: Any = None, parent: Any = None) -> Any:
    """An OmegaConf-2.0-shaped node tree for a plain value (dict -> DictConfig, list -> ListConfig, else AnyNode)."""
    if isinstance(value, dict):
        node = DictConfig()
        node.__dict__.update(_metadata=ContainerMetadata(Any, dict, True, key, {}, Any, Any), _parent=parent)
        node.__dict__["_content"] = {k: omegaconf_node(v, k, node) for k, v in value.items()}
    elif isinstance(value, list):
        node = ListConfig()
        node.__dict__.update(_metadata=ContainerMetadata(Any, list, True, key, {}, int, Any), _parent=parent)
        node.__dict__["_content"] = [omegaconf_node(v, i, node) for i, v in enumerate(value)]
    else:
        node = AnyNode()
        node.__dict__.update(_metadata=Metadata(Any, Any, True, key, {}), _parent=parent, _val=value)
    return node


def lightning_checkpoint(state_dict: dict[str, torch.Tensor], config: dict = UPSTREAM_CONFIG) -> dict:
    """The top-level dict of a Lightning 1.1.4 checkpoint of GLoRIA's PretrainModel (`gloria.` prefix added)."""
    first = next(iter(state_dict.values()))
    return {
        "epoch": 13, "global_step": 12345, "pytorch-lightning_version": "1.1.4",
        "callbacks": {
            ModelCheckpoint: {"monitor": "val_loss", "best_model_score": torch.tensor(3.21),
                              "best_model_path": "./data/ckpt/epoch=12.ckpt", "current_score": torch.tensor(3.3),
                              "dirpath": "./data/ckpt", "best_k_models": {"./data/ckpt/epoch=12.ckpt": torch.tensor(3.21)},
                              "kth_value": np.float64(3.4)},
            EarlyStopping: {"wait_count": 1, "stopped_epoch": 0, "best_score": torch.tensor(3.21), "patience": 10},
        },
        "optimizer_states": [{"state": {0: {"step": 10, "exp_avg": torch.zeros_like(first),
                                            "exp_avg_sq": torch.ones_like(first)}},
                              "param_groups": [{"lr": 5e-5, "betas": (0.5, 0.999), "eps": 1e-8, "weight_decay": 1e-6,
                                                "amsgrad": False, "params": [0]}]}],
        "lr_schedulers": [{"factor": 0.5, "min_lrs": [0], "patience": 5, "mode": "min", "threshold": 1e-4,
                           "best": 3.21, "num_bad_epochs": 1, "mode_worse": float("inf"), "last_epoch": 13,
                           "_last_lr": [5e-5]}],
        "native_amp_scaling_state": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                                     "growth_interval": 2000, "_growth_tracker": 7},
        "state_dict": OrderedDict((f"gloria.{k}", v) for k, v in state_dict.items()),
        "hparams_name": "kwargs",
        "hyper_parameters": omegaconf_node(config),
        "hparams_type": DictConfig,
    }


def save_lightning_checkpoint(path: Path, checkpoint: dict, zip_format: bool = True) -> Path:
    with fake_lightning_modules():
        torch.save(checkpoint, path, _use_new_zipfile_serialization=zip_format)
    return path


# a 2-layer BERT with Bio_ClinicalBERT's width (GLoRIA has no text projection: hidden size = 768)
TINY_BERT = dict(vocab_size=1072, hidden_size=768, num_hidden_layers=2, num_attention_heads=12, intermediate_size=64,
                 max_position_embeddings=128)


def released_state_dict() -> dict[str, torch.Tensor]:
    """GLoRIA's keys and shapes (ResNet-50, 768-d heads) with a 2-layer BERT, plus transformers 4.2.1's
    persistent `position_ids` buffer."""
    from transformers import BertConfig

    from msxr_bench.models.gloria_model import GloriaConfig, GloriaModel

    torch.manual_seed(0)
    model = GloriaModel(GloriaConfig(), BertConfig(**TINY_BERT), tokenizer=None)
    state = dict(model.state_dict())
    state["text_encoder.model.embeddings.position_ids"] = torch.arange(128)[None]
    return state


@lru_cache(maxsize=1)
def released_files() -> dict:
    """Once per test session: a released-format checkpoint, its state, its conversion, and a text_model
    directory (stub vocabulary + the tiny BERT config). Read-only for the tests."""
    from transformers import BertConfig

    from gloria_helpers import write_stub_vocab
    from msxr_bench.adapters.gloria_checkpoint import convert_gloria_checkpoint

    tmp = tempfile.TemporaryDirectory(prefix="gloria_released_")
    atexit.register(tmp.cleanup)
    root = Path(tmp.name)
    state = released_state_dict()
    ckpt = save_lightning_checkpoint(root / "chexpert_resnet50.ckpt", lightning_checkpoint(state))
    text_dir = root / "text"
    write_stub_vocab(text_dir)
    BertConfig(**TINY_BERT).to_json_file(str(text_dir / "config.json"))
    converted = convert_gloria_checkpoint(ckpt, root / "gloria_resnet50.safetensors")
    return {"root": root, "ckpt": ckpt, "state": state, "text_dir": text_dir, "converted": converted, "_tmp": tmp}


def small_state(state: dict[str, torch.Tensor], n: int = 12) -> dict[str, torch.Tensor]:
    """A few released keys plus `position_ids`: enough for the shape-agnostic converter, quick to write."""
    keys = [k for k in state if not k.endswith("position_ids")][:: max(1, len(state) // n)]
    return {**{k: state[k] for k in keys}, "text_encoder.model.embeddings.position_ids": torch.arange(128)[None]}
