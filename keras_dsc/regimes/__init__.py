"""Weather-regime statistics on plain pandas and xarray objects: no run folder, no TensorFlow.

A sequence of regimes is a `pandas.Series` of integer cluster labels on the windows' start
times (an `xarray.DataArray` on `time`, or a table with `time` and `cluster` columns such as
`assignments.csv`, are accepted too); `NO_REGIME` (-1) marks a window in no regime.

- `keras_dsc.regimes.statistics`: frequencies (per month, season, year) and their
  climatology, episodes and persistence, transition matrices, and the two filters of the
  literature (`filter_probability`, `filter_duration`).
- `keras_dsc.regimes.composites`: the mean anomaly of any field in each regime, with a
  significance test per grid point.
"""

from keras_dsc.regimes.composites import composites, window_means
from keras_dsc.regimes.statistics import (
    NO_REGIME,
    SEASONS,
    as_labels,
    duration_histogram,
    episodes,
    filter_duration,
    filter_probability,
    frequencies,
    frequency_climatology,
    longest_episodes,
    persistence,
    transitions,
    window_step,
)

__all__ = [
    "NO_REGIME", "SEASONS", "as_labels", "composites", "duration_histogram", "episodes",
    "filter_duration", "filter_probability", "frequencies", "frequency_climatology",
    "longest_episodes", "persistence", "transitions", "window_means", "window_step",
]
