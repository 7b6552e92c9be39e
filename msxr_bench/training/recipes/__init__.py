"""Training recipes by model name: `get_recipe("gloria", "tiny")`."""

from __future__ import annotations

import importlib
from pathlib import Path

import torch

from msxr_bench.training.recipes.base import CONFIGS, Recipe, RecipeSettings

RECIPES: dict[str, str] = {
    "biovil": "msxr_bench.training.recipes.biovil:BioViLRecipe",
    "gloria": "msxr_bench.training.recipes.gloria:GloriaRecipe",
    "convirt": "msxr_bench.training.recipes.convirt:ConvirtRecipe",
    "biovil-l": "msxr_bench.training.recipes.biovil_l:BioViLLRecipe",
    "biovil-baseline": "msxr_bench.training.recipes.baseline:BioViLBaselineRecipe",
    "simclr": "msxr_bench.training.recipes.simclr:SimCLRRecipe",
    "cxr-bert": "msxr_bench.training.recipes.cxrbert:CXRBertRecipe",
    "biovil-t": "msxr_bench.training.recipes.biovil_t:BioViLTRecipe",
    "biovil-boxes": "msxr_bench.training.recipes.biovil_boxes:BioViLBoxesRecipe",
}

__all__ = ["CONFIGS", "RECIPES", "Recipe", "RecipeSettings", "get_recipe", "init_checkpoint"]


def get_recipe(model: str, config: str = "paper", text_model: str | None = None,
               image_init: str | None = None) -> Recipe:
    if model not in RECIPES:
        raise ValueError(f"no training recipe for {model!r}; trainable models: {', '.join(RECIPES)}")
    module_name, _, cls = RECIPES[model].partition(":")
    return getattr(importlib.import_module(module_name), cls)(config, text_model=text_model, image_init=image_init)


def init_checkpoint(model: str, config: str, seed: int, tokenizer_dir: Path | None, out: Path,
                    description: str = "", text_model: str | None = None) -> Path:
    """The recipe's model as initialised with `seed` (as `train` does before its first step), exported."""
    recipe = get_recipe(model, config, text_model)
    tokenizer = recipe.load_tokenizer(tokenizer_dir)
    torch.manual_seed(seed)
    module = recipe.build(tokenizer)
    return recipe.export(module, tokenizer, out, ("none (initial weights)",),
                         description or f"{model} {config} at initialisation, seed {seed}")
