"""`python -m msxr_bench ...` (also what `torchrun -m msxr_bench` runs)."""

from msxr_bench.cli import main

if __name__ == "__main__":
    main()
