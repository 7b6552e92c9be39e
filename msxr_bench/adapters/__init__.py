"""Encoder adapters: the contract (`base`), the declarations of the built-ins (`catalog`, torch-free), the
registry (`registry`: built-ins and entry-point plugins) and one module per model.

This package imports nothing at import time, so that `msxr_bench.adapters.registry` stays torch-free.
"""
