"""MS-CXR-T tasks: `ms-cxr-t-cls` (temporal image classification: improving / stable / worsening between a prior and a
current image) and `ms-cxr-t-sim` (temporal sentence similarity). Declarations in `spec.py` (torch-free)."""
