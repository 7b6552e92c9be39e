"""Adapters in their own environment: a model runs in a worker process started from another interpreter and
answers the harness over a local socket (docs/remote-adapters.md).

worker.py (shipped to the worker: stdlib + numpy, with the frame codec), protocol.py (errors, handshake,
reply checks), spec.py (how to start a worker), client.py (process control, `connect`), adapter.py
(`RemoteAdapter`, the `remote` built-in), workers/ (ready entries, e.g. hi-ml-multimodal's BioViL).
Importing this package imports neither torch nor a worker.
"""
