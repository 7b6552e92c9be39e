"""Ready worker entries, shipped to the worker as files (spec.WorkerSpec.shipped_entry): himl_biovil runs with
the standard library, numpy and the model's own packages only; serve_adapter needs msxr-bench in the worker's
environment (it serves an msxr-bench adapter from there).
"""
