"""Text-model tasks without images: intrinsics of a masked-language model on MIMIC-CXR reports (BioViL Table 3)."""
