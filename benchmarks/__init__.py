"""Scripts that measure and print figures (speed, memory, clustering quality).

Run each from the repository root as `python -m benchmarks.<name>`.
"""
