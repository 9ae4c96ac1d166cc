"""Shared pytest setup: quiet TensorFlow logs, a private cache for the built-in cube."""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Generated built-in cubes go to a per-session folder, never to the user's ~/.cache.
os.environ.setdefault("KERAS_DSC_CACHE", tempfile.mkdtemp(prefix="keras_dsc_test_cache_"))
