"""msxr-bench: a model-agnostic evaluation harness for chest X-ray vision-language models.

Tasks: MS-CXR phrase grounding, RSNA pneumonia zero-shot classification/segmentation, RadNLI.
"""

__version__ = "0.1.0"
