"""Runs: the commands that write or read a run folder (fit, evaluate, figures, export, ...)."""
