"""Shared pytest setup: quiet TensorFlow logs and keep Keras on one backend per session."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
