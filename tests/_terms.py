"""Checks that every score term of a fitted detector must pass."""

import numpy as np
import pytest
import sklearn

from danogan_sk.scoring import anomaly_score, term_spreads


def assert_finite_positive_and_chunk_invariant(detector, X, term: str) -> np.ndarray:
    """``term`` of ``X`` is finite and positive, and the same when scored in chunks of a few rows."""
    whole = detector.score_components(X)[term]
    assert np.all(np.isfinite(whole)) and np.all(whole > 0)
    # A tiny working memory scores in chunks of a few rows.
    with sklearn.config_context(working_memory=0.3):
        chunked = detector.score_components(X)[term]
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6)
    return whole


def assert_weight_acts_at_scoring_time(detector, X, term: str, weights) -> None:
    """Setting ``{term}_weight`` after ``fit`` rescores ``X`` by :func:`anomaly_score` of its components,
    up to the sum of the weights reaching 1."""
    parts = detector.score_components(X)
    spreads = term_spreads(detector._training_components)
    assert term in spreads
    for weight in weights:
        detector.set_params(**{f"{term}_weight": weight})
        # The weights the score uses (patch_weight="auto" resolved to the fit's choice).
        used = detector._score_weights()
        expected = anomaly_score(parts, used.pop("alpha"), used.pop("critic_weight"), spreads, **used)
        np.testing.assert_allclose(-detector.score_samples(X), expected, rtol=1e-10)
    # A weight that takes the sum of the weights past 1 is refused when scoring.
    used = detector._score_weights()
    total = used["critic_weight"] + used["neighbor_weight"] + used["latent_weight"] + used["patch_weight"]
    detector.set_params(**{f"{term}_weight": weights[-1] + 1.01 - total})
    with pytest.raises(ValueError, match="patch_weight must be at most 1 "):
        detector.score_samples(X)
    detector.set_params(**{f"{term}_weight": weights[-1]})


def assert_score_term_contract(detector, X, term: str, weights) -> None:
    """What every bank-based term must do: finite, positive and chunk-invariant on ``X``, positive on the
    training rows (each scored without its own bank row, as unseen normal data would be), and weighted
    at scoring time."""
    assert_finite_positive_and_chunk_invariant(detector, X, term)
    assert np.all(detector._training_components[term] > 1e-4)
    assert_weight_acts_at_scoring_time(detector, X, term, weights)
