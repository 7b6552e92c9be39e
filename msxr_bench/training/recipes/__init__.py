"""Training recipes by model name: `get_recipe("gloria", "tiny")`."""

from __future__ import annotations

import importlib

from msxr_bench.training.recipes.base import CONFIGS, Recipe, RecipeSettings

RECIPES: dict[str, str] = {
    "biovil": "msxr_bench.training.recipes.biovil:BioViLRecipe",
    "gloria": "msxr_bench.training.recipes.gloria:GloriaRecipe",
    "convirt": "msxr_bench.training.recipes.convirt:ConvirtRecipe",
}

__all__ = ["CONFIGS", "RECIPES", "Recipe", "RecipeSettings", "get_recipe"]


def get_recipe(model: str, config: str = "paper", text_model: str | None = None,
               image_init: str | None = None) -> Recipe:
    if model not in RECIPES:
        raise ValueError(f"no training recipe for {model!r}; trainable models: {', '.join(RECIPES)}")
    module_name, _, cls = RECIPES[model].partition(":")
    return getattr(importlib.import_module(module_name), cls)(config, text_model=text_model, image_init=image_init)
