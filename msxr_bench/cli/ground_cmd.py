"""`msxr-bench ground IMAGE PHRASE...`: phrase-grounding maps of one image (hi-ml's engine semantics),
saved as a float32 array (NaN outside the crop) and/or drawn over the image.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import click


def plot_grounding(image, maps, phrases: list[str], path: Path, model: str,
                   scale: str = "patch-text cosine similarity") -> None:
    """One panel per phrase: the radiograph in grey, the map in RdBu_r over it (vmin -1, vmax 1), a colourbar."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    n = len(phrases)
    rows = math.ceil(n / 3)
    cols = math.ceil(n / rows)  # 4 phrases: 2x2, 5: 3+2
    aspect = image.shape[0] / image.shape[1]
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols + 0.9, 4.2 * aspect * rows + 0.8 * rows),
                             squeeze=False, constrained_layout=True)
    for ax, phrase, heat in zip(axes.flat, phrases, maps):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="lanczos")
        ax.imshow(np.ma.masked_invalid(heat), cmap="RdBu_r", vmin=-1, vmax=1, alpha=0.5, interpolation="nearest")
        rows, cols = np.flatnonzero(~np.isnan(heat).all(1)), np.flatnonzero(~np.isnan(heat).all(0))
        if rows.size and (rows.size < heat.shape[0] or cols.size < heat.shape[1]):  # the region the model saw
            ax.add_patch(Rectangle((cols[0] - 0.5, rows[0] - 0.5), cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1,
                                   fill=False, edgecolor="gold", linestyle="--", linewidth=1.0))
        ax.set_title("\n".join(textwrap.wrap(phrase, 36)), fontsize=11)
        ax.set_axis_off()
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    scale = ScalarMappable(norm=Normalize(vmin=-1, vmax=1), cmap="RdBu_r")  # the bar without the overlay's alpha
    bar = fig.colorbar(scale, ax=axes.ravel().tolist(), shrink=0.85, pad=0.02)
    bar.set_label(scale)
    fig.suptitle(f"{model}: phrase grounding (dashed: the region the model saw)", fontsize=12)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


GROUND_EPILOG = """\b
Examples:
  msxr-bench ground chest.dcm "left lower lobe consolidation" --model biovil --output overlay.png
  msxr-bench ground chest.jpg "cardiomegaly" "small right pleural effusion" -m gloria \\
      --model-arg weights=gloria.safetensors --save-map maps.npy --interpolation bilinear
  msxr-bench ground chest.png "pneumothorax" -m biovil --model-arg checkpoint=fixtures/models/tiny-biovil -o map.png
"""


@click.command("ground", epilog=GROUND_EPILOG)
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("phrases", nargs=-1, required=True)
@click.option("--model", "-m", "model_name", default="biovil", show_default=True,
              help="Adapter name (biovil, biovil-t, or any adapter with patch embeddings).")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
              help="Adapter option, repeatable (e.g. image_weights=PATH, text_model=DIR).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write an overlay PNG: one panel per phrase.")
@click.option("--save-map", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the full-resolution float32 map(s) as .npy: [H, W], or [P, H, W] for several phrases.")
@click.option("--interpolation", type=click.Choice(["nearest", "bilinear"]), default="nearest", show_default=True,
              help="Grid upsampling: nearest (benchmark default) or bilinear (smoother pictures).")
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cpu or cuda.")
def ground_cmd(image: Path, phrases: tuple[str, ...], model_name: str, model_args: tuple[str, ...],
               output: Path | None, save_map: Path | None, interpolation: str, device: str) -> None:
    """Similarity maps of PHRASES on IMAGE (PNG, JPEG or DICOM), as hi-ml-multimodal computes them, for any model
    with patch embeddings (its own smoothing, rescaling and placement)."""
    import numpy as np

    from msxr_bench.adapters.registry import build_adapter, parse_model_args
    from msxr_bench.inference import ground_phrases

    try:
        options = parse_model_args(model_args)
        adapter = build_adapter(model_name, **options)
    except (ValueError, KeyError, OSError, RuntimeError, TypeError) as exc:
        raise click.ClickException(str(exc)) from exc
    if "patches" not in adapter.capabilities:
        raise click.ClickException(f"model {model_name!r} has no patch embeddings: it cannot ground phrases")
    adapter.to(device)
    try:
        result = ground_phrases(adapter, image, list(phrases), interpolation=interpolation)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    h, w = result.image.shape
    click.echo(f"{image} ({w}x{h}), {model_name}, map placement {result.placement}, {interpolation} upsampling")
    for phrase, heat in zip(result.phrases, result.maps):
        valid = heat[~np.isnan(heat)]
        row, col = np.unravel_index(np.nanargmax(heat), heat.shape)
        click.echo(f"  {phrase!r}: min {valid.min():+.3f} mean {valid.mean():+.3f} max {valid.max():+.3f} "
                   f"at (x={col}, y={row})")
    if save_map is not None:
        save_map.parent.mkdir(parents=True, exist_ok=True)
        np.save(save_map, result.maps[0] if len(phrases) == 1 else result.maps)
        click.echo(f"map{'s' if len(phrases) > 1 else ''} written to {save_map}")
    if output is not None:
        plot_grounding(result.image, result.maps, result.phrases, output, model_name, result.scale)
        click.echo(f"overlay written to {output}")
