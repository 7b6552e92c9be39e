"""Training: vision-language pretraining of BioViL, GLoRIA and ConVIRT (`loop.py`, `recipes/`, `losses.py`,
DDP-aware) and RadNLI fine-tuning of text encoders (`nli_*.py`). Models live in `models/`, checkpoints in the
adapters' formats."""
