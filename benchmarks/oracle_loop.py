"""The official baseline of bench_end_to_end.py, run inside the hi-ml-multimodal venv (scripts/oracle_env.sh),
never imported by msxr-bench:

    ORACLE_PYTHON benchmarks/oracle_loop.py JOB.json OUT_DIR

JOB.json: {"image_weights", "text_model", "resize", "crop", "threads", "pairs": [[image path, phrase], ...]}.
Loops hi-ml-multimodal's `ImageTextInferenceEngine.get_similarity_map_from_raw_data` (nearest) over the
pairs, timing every call and where its time goes (decode, transform, image forward, text forward, the
rest). Each full-resolution map is stored losslessly as its block structure (nearest upsampling makes it
piecewise constant: row starts, column starts, block values; checked to expand back bit for bit).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parity"))
import tv_cpu_shim  # noqa: E402,F401  (before anything imports torchvision)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from health_multimodal.image import ImageInferenceEngine  # noqa: E402
import health_multimodal.image.inference_engine as ie  # noqa: E402
from health_multimodal.image.data.transforms import create_chest_xray_transform_for_inference  # noqa: E402
from health_multimodal.image.model.model import ImageModel  # noqa: E402
from health_multimodal.text.inference_engine import TextInferenceEngine  # noqa: E402
from health_multimodal.text.model import CXRBertModel, CXRBertTokenizer  # noqa: E402
from health_multimodal.vlp.inference_engine import ImageTextInferenceEngine  # noqa: E402

TIMES: dict[str, float] = {}


def timed(name: str, fn):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name] = TIMES.get(name, 0.0) + time.perf_counter() - t0
    return wrapper


def blocks(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row starts, column starts, values) of a piecewise-constant map; asserts the expansion is exact."""
    bits = np.ascontiguousarray(m, dtype=np.float32).view(np.uint32)
    rows = np.r_[0, np.nonzero(np.any(bits[1:] != bits[:-1], axis=1))[0] + 1]
    cols = np.r_[0, np.nonzero(np.any(bits[:, 1:] != bits[:, :-1], axis=0))[0] + 1]
    values = m[np.ix_(rows, cols)].astype(np.float32)
    r_id = np.repeat(np.arange(len(rows)), np.diff(np.r_[rows, m.shape[0]]))
    c_id = np.repeat(np.arange(len(cols)), np.diff(np.r_[cols, m.shape[1]]))
    assert np.array_equal(values[r_id][:, c_id].view(np.uint32), bits), "map is not block-constant"
    return rows, cols, values


def main(job_path: Path, out: Path) -> None:
    job = json.loads(job_path.read_text())
    torch.set_num_threads(int(job.get("threads", 2)))
    model = ImageModel(img_encoder_type="resnet50", joint_feature_size=128,
                       pretrained_model_path=job["image_weights"]).eval()
    text_model = CXRBertModel.from_pretrained(job["text_model"]).eval()
    tokenizer = CXRBertTokenizer.from_pretrained(job["text_model"])
    transform = create_chest_xray_transform_for_inference(resize=job["resize"], center_crop_size=job["crop"])
    image_engine = ImageInferenceEngine(model, transform)
    text_engine = TextInferenceEngine(tokenizer=tokenizer, text_model=text_model)
    engine = ImageTextInferenceEngine(image_engine, text_engine)
    # where the time goes: the engine's own steps, wrapped in place
    ie.load_image = timed("decode", ie.load_image)
    image_engine.transform = timed("resize", image_engine.transform)
    model.forward = timed("image forward", model.forward)
    text_engine.get_embeddings_from_prompt = timed("text forward", text_engine.get_embeddings_from_prompt)

    per_call, arrays = [], {}
    engine.get_similarity_map_from_raw_data(Path(job["pairs"][0][0]), job["pairs"][0][1])  # warm-up, untimed
    TIMES.clear()
    for k, (path, phrase) in enumerate(job["pairs"]):
        t0 = time.perf_counter()
        sim = engine.get_similarity_map_from_raw_data(Path(path), phrase, interpolation="nearest")
        per_call.append(time.perf_counter() - t0)
        rows, cols, values = blocks(sim)
        arrays[f"{k}_rows"], arrays[f"{k}_cols"], arrays[f"{k}_values"] = rows, cols, values
        arrays[f"{k}_shape"] = np.array(sim.shape)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "maps.npz", **arrays)
    total = float(sum(per_call))
    steps = {k: round(v, 4) for k, v in TIMES.items()}
    steps["rest (smoothing, upsampling, glue)"] = round(total - sum(TIMES.values()), 4)
    (out / "timings.json").write_text(json.dumps({"per_call_s": per_call, "total_s": total, "steps_s": steps,
                                                  "threads": torch.get_num_threads()}, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
