"""Published numbers of the papers the toolkit reproduces, shipped as data with their source (`papers/`), parsed
(`values.py`). Used by the leaderboard's "reported in paper" tables and by `msxr-bench reproduce`."""
