"""Writes tests/data/biovil/official_keys.json: the state_dict key names and shapes of hi-ml-multimodal's
models (BioViL / BioViL-T image models, ResNet-18 trunk, BERT-base CXR-BERT), as the package builds them.
Run once in the oracle venv (scripts/oracle_env.sh); the JSON is committed and read by tests/test_biovil_models.py.

    $(bash scripts/oracle_env.sh | tail -1)/bin/python tests/parity/dump_official_keys.py
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tv_cpu_shim  # noqa: E402,F401

from health_multimodal.image.model.model import ImageModel  # noqa: E402
from health_multimodal.text.model import CXRBertConfig, CXRBertModel  # noqa: E402


def keys(module) -> list:
    return [[k, list(v.shape)] for k, v in module.state_dict().items()]


out = {
    "biovil_image": keys(ImageModel(img_encoder_type="resnet50", joint_feature_size=128)),
    "biovil_t_image": keys(ImageModel(img_encoder_type="resnet50_multi_image", joint_feature_size=128)),
    "resnet18_trunk": keys(ImageModel(img_encoder_type="resnet18", joint_feature_size=128).encoder.encoder),
    "cxr_bert": keys(CXRBertModel(CXRBertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                                                num_attention_heads=12, intermediate_size=3072,
                                                max_position_embeddings=512, projection_size=128))),
}
path = Path(__file__).resolve().parents[1] / "data" / "biovil" / "official_keys.json"
path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
print({k: len(v) for k, v in out.items()})
