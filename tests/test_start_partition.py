"""The partition DSC's joint training starts from (`keras_dsc.training.start`, `fit --init`)."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from keras_dsc.errors import OptionError
from keras_dsc.runs.fit import start_text
from keras_dsc.runs.options import FitOptions
from keras_dsc.training.start import (
    STRUCTURE_GAP,
    STRUCTURE_Z,
    gap_z,
    refine_by_mixture,
    start_partition,
)


def regimes_under_slow_variability(n=150, k=3, seed=0):
    """Windows `(n, 1, 6, 8, 1)` whose `k` regimes (patterns of 2 noise sd, episodes of 5
    windows) lie under two slow modes of 6 noise sd (a domain-wide offset and a dipole, red
    noise), as slow variability left in the anomalies does; and the regime of each."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:6, 0:8]
    patterns = [np.cos(0.9 * x + 1.3 * j) * np.sin(0.7 * y + 2.1 * j) for j in range(k)]
    patterns = [2.0 * p / p.std() for p in patterns]
    labels = np.repeat(rng.integers(0, k, n // 5 + 1), 5)[:n]
    slow = np.zeros((n, 2))
    for t in range(1, n):
        slow[t] = 0.95 * slow[t - 1] + rng.normal(scale=np.sqrt(1 - 0.95**2), size=2)
    modes = np.stack([np.ones((6, 8)), (y - 2.5) / 2.5])
    fields = (6 * np.einsum("tm,myx->tyx", slow, modes) + np.stack(patterns)[labels]
              + rng.normal(size=(n, 6, 8)))
    return fields[:, None, :, :, None].astype("float32"), labels


def test_clusters_under_slow_variability_start_from_the_standardised_eofs():
    windows, truth = regimes_under_slow_variability()
    labels, info = start_partition(windows, 3, init="auto")
    assert info["partition"] == "standardised-eofs"
    assert info["standardised_eofs"] == 6
    assert info["mixture"]["n_eofs"] == 18 and not info["mixture"]["kept"]  # 6k EOFs
    assert info["mixture"]["converged"] is True
    assert info["structure_z"] >= STRUCTURE_Z and info["structure_gap"] >= STRUCTURE_GAP
    assert adjusted_rand_score(truth, labels) > 0.95
    # The classical start splits the slow modes instead: what `auto` is there to avoid.
    classical, classical_info = start_partition(windows, 3, init="eof")
    assert classical_info == {"partition": "eof-kmeans"}
    assert adjusted_rand_score(truth, classical) < 0.5


def test_a_continuum_keeps_the_classical_start():
    # An index-like field: one pattern whose amplitude is a Gaussian index, plus noise. The
    # standardised EOFs hold no groups, so the start is EOF + k-means, label for label.
    rng = np.random.default_rng(1)
    index = rng.normal(size=80)
    pattern = np.sin(np.linspace(0, 3, 48)).reshape(6, 8)
    fields = 3 * index[:, None, None] * pattern + rng.normal(size=(80, 6, 8))
    windows = fields[:, None, :, :, None].astype("float32")
    labels, info = start_partition(windows, 2, init="auto")
    assert info["partition"] == "eof-kmeans"
    assert info["structure_z"] < STRUCTURE_Z or info["structure_gap"] < STRUCTURE_GAP
    classical, _ = start_partition(windows, 2, init="eof")
    np.testing.assert_array_equal(labels, classical)
    assert adjusted_rand_score(index > 0, labels) > 0.6  # the index' sign, as k-means finds it


def test_skewed_modes_without_groups_keep_the_classical_start():
    # Ten orthogonal modes whose amplitudes are skewed (exponential, as rain or a heat index),
    # each on its own: no groups. Against Gaussian points of the same size their standardised
    # EOFs show a gap above the threshold; the null of shuffled components keeps every
    # component's distribution, and finds none.
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    n, k = 730, 5
    modes, _ = np.linalg.qr(rng.normal(size=(80, 10)))  # orthonormal maps of 8 x 10 points
    amplitudes = rng.exponential(size=(n, 10)) * np.linspace(2.0, 1.0, 10)
    fields = amplitudes @ modes.T + 0.01 * rng.normal(size=(n, 80))
    labels, info = start_partition(fields.reshape(n, 1, 8, 10, 1).astype("float32"), k)
    assert info["partition"] == "eof-kmeans" and info["structure_gap"] < STRUCTURE_GAP
    points = PCA(2 * k).fit_transform(fields)
    points /= points.std(axis=0)
    inertia = KMeans(k, n_init=50, random_state=0).fit(points).inertia_ / n
    gaussian = [KMeans(k, n_init=10, random_state=i).fit(rng.normal(size=(n, 2 * k))).inertia_
                / n for i in range(10)]
    assert np.mean(np.log(gaussian)) - np.log(inertia) > STRUCTURE_GAP


def test_heavy_tails_common_to_every_mode_keep_the_classical_start():
    # Ten orthogonal modes whose amplitudes are a multivariate t of 3 degrees of freedom: some
    # windows are wilder in every mode at once (an extreme year), yet there are no groups.
    # Standardised as drawn, such points fool the shuffled null (gap 0.12 here); their
    # standardised EOFs, whose axes the wildest windows set, do not.
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(3)
    n, k = 240, 5
    modes, _ = np.linalg.qr(rng.normal(size=(80, 10)))
    amplitudes = rng.normal(size=(n, 10)) / np.sqrt(rng.chisquare(3, size=(n, 1)) / 3)
    fields = amplitudes @ modes.T + 0.01 * rng.normal(size=(n, 80))
    labels, info = start_partition(fields.reshape(n, 1, 8, 10, 1).astype("float32"), k)
    assert info["partition"] == "eof-kmeans"
    assert info["structure_z"] < STRUCTURE_Z or info["structure_gap"] < STRUCTURE_GAP
    drawn = amplitudes / amplitudes.std(axis=0)
    inertia = KMeans(k, n_init=50, random_state=0).fit(drawn).inertia_ / n
    z, gap = gap_z(drawn, inertia, k)
    assert z >= STRUCTURE_Z and gap >= STRUCTURE_GAP


def test_latent_starts_from_no_partition_and_init_is_checked():
    windows, _ = regimes_under_slow_variability(n=20)
    assert start_partition(windows, 2, init="latent") == (None, {"partition": "latent"})
    # As many windows as clusters: every partition is exact, the test has no evidence (and no
    # infinite gap goes into metrics.json).
    labels, info = start_partition(windows[:2], 2, init="auto")
    assert info["partition"] == "eof-kmeans" and info["structure_gap"] == 0.0
    assert gap_z(np.zeros((2, 1)), 0.0, 2) == (0.0, 0.0)
    assert FitOptions().init == "auto"
    with pytest.raises(OptionError, match="init must be one of auto, eof, latent, got 'pca'"):
        FitOptions(init="pca")


def test_the_summary_says_where_training_started_and_why():
    assert start_text({"partition": "latent"}) == (
        "start: k-means on the pre-trained latent vectors (--init latent)")
    assert start_text({"partition": "eof-kmeans"}) == "start: EOF + k-means (--init eof)"
    test = {"standardised_eofs": 10, "structure_z": 24.46, "structure_gap": 0.1681}
    assert start_text({"partition": "standardised-eofs", **test}) == (
        "start: k-means on the 10 leading EOFs, each standardised: they hold clusters "
        "(gap 0.168, 24.5 null sd; clusters from 0.03 and 4 sd)")
    mixture = {"n_eofs": 30, "changed": 0.2125, "kept": False}
    assert start_text({"partition": "standardised-eofs", **test, "mixture": mixture}) == (
        "start: k-means on the 10 leading EOFs, each standardised: they hold clusters "
        "(gap 0.168, 24.5 null sd; clusters from 0.03 and 4 sd); refined by a Gaussian "
        "mixture with a shared covariance on the 30 leading EOFs (21 % of the windows moved)")
    assert start_text({"partition": "standardised-eofs", **test, "mixture": mixture,
                       "whitened_latent": True}).endswith(
        "(21 % of the windows moved); the latent space whitened by its clusters' shared "
        "covariance")
    test = {"standardised_eofs": 4, "structure_z": -1.89, "structure_gap": -0.0458}
    assert start_text({"partition": "eof-kmeans", **test}) == (
        "start: EOF + k-means (the 4 leading EOFs, standardised, hold no clusters: "
        "gap -0.046, -1.9 null sd; clusters from 0.03 and 4 sd)")


def test_the_mixture_keeps_a_partition_it_cannot_refine():
    windows, truth = regimes_under_slow_variability(n=40)
    lonely = truth.copy()
    lonely[:] = np.where(truth == 2, 1, truth)
    lonely[0] = 2  # a cluster of one window: no covariance to start from
    labels, info = refine_by_mixture(windows, lonely, 3)
    assert info == {"n_eofs": 10, "changed": 0.0, "kept": True}
    np.testing.assert_array_equal(labels, lonely)
    # Fewer windows than four per EOF: no EOF to fit on.
    labels, info = refine_by_mixture(windows[:3], truth[:3], 3)
    assert info["kept"] and info["n_eofs"] == 0
