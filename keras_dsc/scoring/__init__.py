"""Scoring: cluster quality scores (scikit-learn's and the DSC paper's) and the choice of k."""
