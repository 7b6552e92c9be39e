"""The built-in adapters as declarations: factory, one-line description, capabilities and option schema.

Torch-free: `msxr-bench list`, `--help` and `preflight` read it without importing any model code.
"""

from __future__ import annotations

from dataclasses import dataclass

from msxr_bench.adapters.options import AdapterOption, OptionSchema


@dataclass(frozen=True)
class AdapterEntry:
    name: str
    factory: str  # "module:function" taking the parsed options as keyword arguments
    description: str
    capabilities: tuple[str, ...]
    options: OptionSchema | None  # None: options go to the factory unparsed


_GEOMETRY = AdapterOption("geometry", "where grids land in the original image: official = hi-ml's NaN-padded "
                          "square (published numbers), exact = the true crop window", "choice", "official",
                          ("official", "exact"))

GLORIA_MAP_KINDS = ("cosine", "attention")


def _biovil_options(crop: int) -> OptionSchema:
    return OptionSchema((
        AdapterOption("image_weights", "the released image .pt (default: the hub file at the pinned revision)", "path"),
        AdapterOption("text_model", "a CXR-BERT directory or hub id (default: the model's hub repo, pinned "
                      "revision)"),
        AdapterOption("revision", "hub revision instead of the pinned one (official checksums then not enforced)"),
        AdapterOption("checkpoint", "a checkpoint directory trained with this toolkit", "path"),
        _GEOMETRY,
        AdapterOption("resize", "input geometry: short side resized to this many pixels (default 512, or a "
                      "checkpoint's own)", "int"),
        AdapterOption("crop", f"input geometry: centre crop of this many pixels (default {crop}, or a "
                      "checkpoint's own)", "int"),
        AdapterOption("verify", "check the official MD5/sha256 of files carrying the official names", "bool", True),
    ))


REMOTE_OPTIONS = OptionSchema((
    AdapterOption("spec", "a JSON file naming the options below (python, command, entry, args, config, timeout, "
                  "startup_timeout, pythonpath, env); --model-arg values win over it", "path"),
    AdapterOption("python", "interpreter of the model's own environment (default: this one)", "path"),
    AdapterOption("command", "instead of python: a command line that runs a Python (e.g. 'conda run -n env "
                  "python'); the worker file and its flags are appended"),
    AdapterOption("entry", "module:callable or file.py:callable returning the model object (describe(), "
                  "encode_images, ...): docs/remote-adapters.md"),
    AdapterOption("config", "a JSON object file: keyword arguments of the entry (arg.NAME=VALUE wins over it)",
                  "path"),
    AdapterOption("timeout", "seconds the worker may take to answer one request", "float", 300.0),
    AdapterOption("startup_timeout", "seconds the worker may take to start and load the model", "float", 600.0),
    AdapterOption("pythonpath", "folders put on the worker's PYTHONPATH (os.pathsep-separated)"),
), passthrough="arg.")

BUILTIN: dict[str, AdapterEntry] = {e.name: e for e in (
    AdapterEntry(
        "biovil", "msxr_bench.adapters.biovil:build_biovil",
        "BioViL (ResNet-50 + CXR-BERT), Boecking et al. ECCV 2022",
        ("global", "patches", "text", "text_encoder"), _biovil_options(480)),
    AdapterEntry(
        "biovil-t", "msxr_bench.adapters.biovil:build_biovil_t",
        "BioViL-T, current-image path, Bannur et al. CVPR 2023",
        ("global", "patches", "text", "text_encoder"), _biovil_options(448)),
    AdapterEntry(
        "gloria", "msxr_bench.adapters.gloria:build_gloria",
        "GLoRIA (ResNet-50 + ClinicalBERT, local+global), Huang et al. ICCV 2021",
        ("global", "patches", "text", "text_encoder"),
        OptionSchema((
            AdapterOption("weights", "the released checkpoint after `msxr-bench convert-gloria` (.safetensors)",
                          "path"),
            AdapterOption("text_model", "tokenizer + BERT config directory or hub id (default "
                          "emilyalsentzer/Bio_ClinicalBERT)"),
            AdapterOption("revision", "hub revision of text_model"),
            AdapterOption("checkpoint", "a GLoRIA trained with this toolkit", "path"),
            AdapterOption("map", "grounding grid: cosine(region, phrase) on the 19x19 grid, or GLoRIA's "
                          "word->region attention", "choice", "cosine", GLORIA_MAP_KINDS),
            AdapterOption("zero_shot", "class scoring of GLoRIA's own zero-shot code path", "choice", "fixed",
                          ("fixed", "released")),
        ))),
    AdapterEntry(
        "convirt", "msxr_bench.adapters.convirt:build_convirt",
        "ConVIRT (ResNet-50 + ClinicalBERT, global), Zhang et al. 2020",
        ("global", "patches", "text", "text_encoder"),
        OptionSchema((
            AdapterOption("checkpoint", "a ConVIRT trained with this toolkit (required: no official weights)",
                          "path"),
            AdapterOption("resize", "input geometry (default: the checkpoint's)", "int"),
            AdapterOption("crop", "input geometry (default: the checkpoint's)", "int"),
        ))),
    AdapterEntry(
        "remote", "msxr_bench.remote.adapter:build_remote",
        "a model in its own Python environment, served by a worker (docs/remote-adapters.md)",
        ("remote",), REMOTE_OPTIONS),  # what it can do comes from the worker's handshake
    AdapterEntry(
        "centre-box", "msxr_bench.adapters.centre_box:build_centre_box",
        "fixed baseline: one box, the central part of the input, for every phrase",
        ("boxes",),
        OptionSchema((AdapterOption("fraction", "side of the box as a fraction of the input's side", "float", 0.5),))),
    AdapterEntry(
        "biovil-boxes", "msxr_bench.adapters.biovil_boxes:build_biovil_boxes",
        "reference box model: phrase box head on a frozen BioViL (msxr-bench train --model biovil-boxes)",
        ("global", "patches", "text", "text_encoder", "boxes"),
        OptionSchema((AdapterOption("checkpoint", "a checkpoint directory of `msxr-bench train --model biovil-boxes`",
                                    "path"), _GEOMETRY))),
)}
