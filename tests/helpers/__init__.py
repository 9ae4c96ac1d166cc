"""Helpers shared by the tests: ERA5-form files, a tiny run folder, Keras round-trip checks."""
