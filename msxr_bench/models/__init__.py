"""Plain torch modules of the reference models (ResNet trunks, BioViL image models, CXR-BERT, ...).
No weight loading or hub logic lives here: that is in `msxr_bench.adapters`.
"""
