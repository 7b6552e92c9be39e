"""RSNA Pneumonia tasks: zero-shot classification and segmentation on a rebuilt split (`selection`)."""
