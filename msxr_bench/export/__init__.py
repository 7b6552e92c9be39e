"""Results where model users look for them: the Hugging Face model-card `model-index` block (`model_index.py`)."""
