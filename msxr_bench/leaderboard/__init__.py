"""The leaderboard: submission folders (`model.json` + results JSONs), their validation (JSON only, never
submitted code), and the generated Markdown/HTML tables with the papers' published numbers kept apart.

    from msxr_bench.leaderboard.validate import validate_paths
    from msxr_bench.leaderboard.build import build
"""
