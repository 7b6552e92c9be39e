"""Linear probes on frozen image encoders: RSNA classification and segmentation (BioViL paper Tables 6, 7)."""
