"""Writes cv2_inter_area.npz: OpenCV INTER_AREA outputs that tests/test_geometry.py checks resize_area against.

Run once in a throwaway environment with `opencv-python-headless` (4.10.0.84 and 5.0.0 give identical
bytes): `python make_cv2_inter_area.py`. Inputs are integer formulas (`test_pattern`), rebuilt by the test,
so only the outputs are stored: a sha256 of each downscaled image (bit-exact cases) and the upscaled
images themselves (compared within one grey level). Not part of the package or the test run.
"""

from pathlib import Path

import hashlib

import numpy as np

# (input H, W) -> (output h, w): GLoRIA letterbox sizes (longest side 256) and some odd ones.
CASES = [
    ((3056, 2544), (256, 213)),  # MIMIC portrait: non-integer area
    ((2544, 3056), (213, 256)),  # MIMIC landscape
    ((1024, 1024), (256, 256)),  # RSNA: 4x4 area-fast
    ((512, 512), (256, 256)),  # 2x2 area-fast (rounds half up)
    ((768, 768), (256, 256)),  # 3x3 area-fast
    ((600, 500), (256, 213)),
    ((513, 400), (256, 199)),
    ((1000, 300), (256, 76)),
    ((4, 3), (2, 1)),
    ((100, 80), (256, 204)),  # upscale: bilinear fallback (within 1 grey level)
    ((96, 96), (256, 256)),
    ((40, 50), (204, 256)),
]


def test_pattern(h: int, w: int, kind: int) -> np.ndarray:
    """Deterministic uint8 images from integer arithmetic only: 0 = hash-like noise, 1 = smooth ramps."""
    y = np.arange(h, dtype=np.int64)[:, None]
    x = np.arange(w, dtype=np.int64)[None, :]
    if kind == 0:
        v = (y * 7919 + x * 104729 + (y * x) % 251 + (y * y * 13) % 97) % 256
    else:
        v = (y * 255 // max(h - 1, 1) + x * 3 + (x // 7) * (y // 11)) % 256
    return v.astype(np.uint8)


if __name__ == "__main__":
    import cv2  # only the generator needs OpenCV; the tests import CASES and test_pattern

    out = {}
    for i, ((h, w), (oh, ow)) in enumerate(CASES):
        img = test_pattern(h, w, i % 2)
        res = cv2.resize(img, (ow, oh), interpolation=cv2.INTER_AREA)
        if oh > h or ow > w:
            out[f"out{i}"] = res
        else:
            out[f"sha256_{i}"] = np.array(hashlib.sha256(np.ascontiguousarray(res).tobytes()).hexdigest())
    out["opencv_version"] = np.array(cv2.__version__)
    np.savez_compressed(Path(__file__).with_name("cv2_inter_area.npz"), **out)
