"""The `ms-cxr` task as data: protocols (MS-CXR releases and split rules), parameters, metric definitions."""

from __future__ import annotations

from pathlib import Path

from msxr_bench.data.types import MS_CXR_CATEGORIES, DatasetFormatError
from msxr_bench.tasks.spec import DatasetSpec, ProtocolSpec, TaskParams, TaskSpec

MS_CXR_DATASET = DatasetSpec("MS-CXR", "https://physionet.org/content/ms-cxr/ (Boecking et al., ECCV 2022)")
SPLIT_ALIASES = {"valid": "val", "validate": "val", "validation": "val"}
MS_CXR_PROTOCOLS = (
    ProtocolSpec("v0.1-all", "all (image, phrase) pairs of MS-CXR release 0.1 (1,162 on PhysioNet)", "0.1", ("all",),
                 "all", "BioViL (Boecking et al. 2022), BioViL-T, zero-shot LDM, Generate-to-Ground", ranked=True),
    ProtocolSpec("v1.1.0-test", "MS-CXR release 1.1.0, its official patient-level split column", "1.1.0",
                 ("train", "val", "test", "all"), "test", "MS-CXR v1.1.0 (PhysioNet)", SPLIT_ALIASES, ranked=True),
    ProtocolSpec("chex", "release 0.1 re-split by each image's MIMIC-CXR split in ChEX's order: MIMIC validate -> "
                 "test, then the rest (MIMIC train) -> val; frontal images (PA/AP) only", "0.1", ("test", "val", "all"),
                 "test", "ChEX (Mueller et al., ECCV 2024), src/dataset/mimic_cxr_datasets.py", SPLIT_ALIASES,
                 ranked=True),
    ProtocolSpec("mimic-split", "release 0.1 pairs by the MIMIC-CXR split of their image (mimic-cxr-2.0.0-split.csv: "
                 "train / validate -> val / test)", "0.1", ("test", "val", "train", "all"), "test",
                 "CheXagent / CheXbench, RadVLM", SPLIT_ALIASES, ranked=True),
    ProtocolSpec("split-file", "release 0.1 pairs listed in a CSV of ids (column sample_id, or dicom_id for every pair "
                 "of an image), e.g. MedRPG's split converted by `msxr-bench convert-split medrpg`; recorded by the "
                 "sha256 of its ids", "0.1", ("all",), "all", "MedRPG (Chen et al. 2023): its MS_CXR_test.pth converts to "
                 "split-file:dicom_id-sha256=18ec2d72eb182d0b (158 images); any other list of ids",
                 parameter="PATH"),
)
VERSION_PROTOCOLS = {"0.1": "v0.1-all", "1.1.0": "v1.1.0-test"}  # --ms-cxr-version, kept as an alias


def locate_ms_cxr(data_root: Path, protocol: ProtocolSpec, split: str) -> list[Path]:
    """The annotation file of the protocol's release, the MIMIC-CXR-JPG image tree it points into, and the split
    files of the protocol (MIMIC-CXR split / metadata tables, or the user's id list)."""
    from msxr_bench.data.mscxr import find_mscxr_annotations
    from msxr_bench.data.tables import files_parent
    from msxr_bench.tasks.grounding.protocols import mimic_table, split_file_path

    annotations = find_mscxr_annotations(data_root, protocol.dataset_version)
    images = files_parent(data_root, "mimic-cxr-jpg") / "files"
    if not images.is_dir():
        raise DatasetFormatError(f"no MIMIC-CXR-JPG image tree (files/pNN/...) under {data_root} or "
                                 f"{data_root / 'mimic-cxr-jpg'}: MS-CXR's images come from MIMIC-CXR-JPG")
    extra = {"chex": lambda: [mimic_table(data_root, "split"), mimic_table(data_root, "metadata")],
             "mimic-split": lambda: [mimic_table(data_root, "split")],
             "split-file": lambda: [split_file_path(data_root, protocol.argument or "")]}
    return [annotations, images] + extra.get(protocol.rule, list)()


class MsCxrParams(TaskParams):
    iou_thresholds: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)


MS_CXR = TaskSpec(
    name="ms-cxr",
    description="MS-CXR phrase grounding: CNR, mIoU, mDice of each phrase's similarity map vs its boxes",
    version="1.1.0",
    type="phrase-grounding",
    dataset=MS_CXR_DATASET,
    protocols=MS_CXR_PROTOCOLS,
    main_score="cnr_macro",
    metrics=("cnr_macro", "cnr_micro", "signed_cnr_macro", "signed_cnr_micro", "miou_macro", "miou_micro",
             "mdice_macro", "mdice_micro", "phrase_gap_macro", "phrase_gap_micro", "signed_cnr_wrong_macro",
             "signed_cnr_wrong_micro"),
    definitions={
        "cnr": "|mean_in - mean_out| / sqrt(var_in + var_out) of the map, population variances, in = union of the "
               "phrase's boxes, out = the rest of the pixels the model saw",
        "signed_cnr": "the CNR without the absolute value: negative when the map points away from the boxes",
        "miou": "mean over the IoU thresholds of IoU(map > t, box union); mdice likewise",
        "phrase_gap": "signed CNR with the sample's phrase minus with a phrase of another category, same image "
                      "and boxes (phrase-sensitivity control)",
        "macro": "mean over categories of the per-category means (the paper's Avg.); micro: mean over samples",
    },
    params=MsCxrParams,
    implementation="msxr_bench.tasks.grounding.ms_cxr:MsCxrTask",
    locate="msxr_bench.tasks.grounding.spec:locate_ms_cxr",
    requires=("patches", "text"),
    row_strings={"sample_id": "id", "dicom_id": "id", "category": MS_CXR_CATEGORIES, "wrong_sample_id": "id",
                 "wrong_category": MS_CXR_CATEGORIES},
    text_fields=("phrase", "wrong_phrase"),
    chart_metrics=("cnr", "signed_cnr", "miou", "phrase_gap"),
    compatible_versions=("1.0.0",),  # 1.1.0 changed how the wrong phrase is drawn, not how rows aggregate
)
