"""Ready worker entries. Each module is shipped to the worker as a file (spec.WorkerSpec.shipped_entry), so it
must run without msxr-bench: only the standard library, numpy and the model's own packages.
"""
