"""Declares the two torchvision operator schemas that PyPI's CUDA torchvision wheel cannot register
beside a CPU torch (spec §6 item 1). Import it before anything that imports torchvision.

torchvision's `_meta_registrations.py` calls `torch.library.register_fake("torchvision::nms")` without
checking that its C++ library loaded; declaring the schemas lets the pure-Python parts (models.resnet,
transforms) import. BioViL uses no torchvision C++ operator.
"""

import torch

try:  # a working torchvision build has already defined them: nothing to do
    torch.ops.torchvision.nms  # noqa: B018
except (AttributeError, RuntimeError):
    _TV_LIB = torch.library.Library("torchvision", "DEF")
    _TV_LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _TV_LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
