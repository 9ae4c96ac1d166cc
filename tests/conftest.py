"""The tests' shared fixtures live in the repository's conftest.py (shared with the doctests)."""
