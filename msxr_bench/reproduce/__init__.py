"""`msxr-bench reproduce PAPER`: a paper's tables next to measured numbers. A recipe per paper (`recipes/*.toml`,
`recipe.py`) maps each published cell to a task, protocol and parameters; `plan.py` decides what runs, `runner.py`
runs it through the facade, `verdict.py` judges each cell by one rule, `report.py` writes the report."""
