"""Phrase-grounding tasks: MS-CXR heatmap grounding (`ms_cxr`), its map scoring, pictures and phrase control."""
