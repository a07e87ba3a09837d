"""Checks that every score term of a fitted detector must pass."""

import numpy as np
import sklearn


def assert_finite_positive_and_chunk_invariant(detector, X, term: str) -> np.ndarray:
    """``term`` of ``X`` is finite and positive, and the same when scored in chunks of a few rows."""
    whole = detector.score_components(X)[term]
    assert np.all(np.isfinite(whole)) and np.all(whole > 0)
    # A tiny working memory scores in chunks of a few rows.
    with sklearn.config_context(working_memory=0.3):
        chunked = detector.score_components(X)[term]
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6)
    return whole
