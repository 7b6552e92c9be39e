"""How big each dataset of the toy world is at each scale (`tiny` = the committed fixture; `temporal` = the world of
BioViL-T's temporal recipe). Training subjects with priors are in `temporal` only, so that the MIMIC `train` and
`validate` pairs of `small` and `full` (what the other recipes train on) are those of worlds made before MS-CXR-T."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    train_images: int  # frontal MIMIC images in the `train` split (each with its report)
    validate_images: int  # frontal images in `validate`
    test_images: int  # frontal images in `test` that MS-CXR does not use
    mscxr_images: int  # MS-CXR images (all from the MIMIC `test` split)
    mscxr_full_size: int  # of those, how many portrait 2544x3056 and how many landscape 3056x2544 each
    rsna_images: int
    rsna_positive_share: float
    radnli_pairs: int  # per file (dev and test)
    mednli_pairs: tuple[int, int, int]  # train, dev, test
    train_size: int = 256  # side of the MIMIC training images (pixels)
    mscxr_size: int = 512  # side of most MS-CXR images
    lateral_share: float = 0.2  # studies that also get a lateral image
    missing_view_share: float = 0.02  # frontal images whose ViewPosition is missing (NaN)
    rsna_size: int = 1024  # side of the RSNA images drawn (boxes are always written in the 1024 Kaggle frame)
    rsna_opacity_amp: tuple[float, float] = (0.24, 0.3)  # density range of the drawn pneumonia opacities
    rsna_format: str = "dcm"  # "dcm" (Kaggle's DICOMs) or "jpg" (a downsampled JPEG conversion of each, same stem)
    temporal_train_subjects: int = 0  # MIMIC `train` subjects with a prior and a current study (BioViL-T recipe)
    mscxrt_subjects: int = 0  # MS-CXR-T image pairs (one row each); a tenth in MIMIC `validate`, the rest `test`...
    mscxrt_train_share: float = 0.0  # ... but for this share in MIMIC `train` (rows a model trained here has seen)
    mscxrt_sentence_pairs: int = 0  # rows of the MS-CXR-T sentence-similarity file
    padchest_images: int = 40  # PadChest-GR images (its own stream: writers/padchest_gr.py)


SCALES: dict[str, Scale] = {
    "tiny": Scale(
        name="tiny", train_images=150, validate_images=12, test_images=6, mscxr_images=40, mscxr_full_size=2,
        rsna_images=24, rsna_positive_share=0.5, radnli_pairs=60, mednli_pairs=(300, 60, 60),
        missing_view_share=0.03, lateral_share=0.15, mscxrt_subjects=24, mscxrt_train_share=0.1,
        mscxrt_sentence_pairs=40,
    ),
    "small": Scale(
        name="small", train_images=3000, validate_images=120, test_images=40, mscxr_images=260, mscxr_full_size=3,
        rsna_images=500, rsna_positive_share=0.3, radnli_pairs=480, mednli_pairs=(3000, 400, 400),
        mscxrt_subjects=150, mscxrt_sentence_pairs=361,
    ),
    "full": Scale(
        name="full", train_images=20000, validate_images=500, test_images=200, mscxr_images=1047, mscxr_full_size=8,
        rsna_images=4000, rsna_positive_share=0.25, radnli_pairs=480, mednli_pairs=(11232, 1395, 1422),
        mscxrt_subjects=1045, mscxrt_sentence_pairs=361,
    ),
    # BioViL-T's temporal recipe: 1,500 training subjects with a prior and a current study (plus a base world
    # smaller than `small`); MS-CXR-T rows as in `small`, a tenth of them in MIMIC train
    "temporal": Scale(
        name="temporal", train_images=1000, validate_images=120, test_images=40, mscxr_images=60, mscxr_full_size=1,
        rsna_images=24, rsna_positive_share=0.5, radnli_pairs=60, mednli_pairs=(300, 60, 60),
        temporal_train_subjects=1500, mscxrt_subjects=150, mscxrt_train_share=0.1, mscxrt_sentence_pairs=361,
    ),
    # the tiny world's MIMIC, MS-CXR and NLI files (byte-identical) plus 1,000 RSNA images as 256-px JPEG conversions,
    # enough for the probes' 1% / 10% / 100% label fractions to differ (gloria split: 700 / 150 / 150)
    "probe": Scale(
        name="probe", train_images=150, validate_images=12, test_images=6, mscxr_images=40, mscxr_full_size=2,
        rsna_images=1000, rsna_positive_share=0.3, radnli_pairs=60, mednli_pairs=(300, 60, 60),
        missing_view_share=0.03, lateral_share=0.15, rsna_size=256, rsna_format="jpg", rsna_opacity_amp=(0.02, 0.07),
        mscxrt_subjects=24, mscxrt_train_share=0.1, mscxrt_sentence_pairs=40,
    ),
    # box grounding at CI size: many MS-CXR pairs (v1.1.0 train for a box head, test to score it), little else
    "boxes": Scale(
        name="boxes", train_images=24, validate_images=6, test_images=4, mscxr_images=480, mscxr_full_size=1,
        rsna_images=4, rsna_positive_share=0.5, radnli_pairs=10, mednli_pairs=(10, 5, 5),
    ),
}


def get_scale(name: str) -> Scale:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown toy-world scale {name!r}; choose one of {', '.join(SCALES)}") from None
