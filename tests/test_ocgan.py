"""OCGAN's pieces: bounded codes, classifier, negative mining, and a score that ranks anomalies."""

import numpy as np
import torch

from danogan_sk.benchmark.methods import METHODS
from danogan_sk.benchmark.ocgan import OCGAN


def _squares(n, side=16, seed=0):
    """Images of one bright square at a random place: a one-class toy set."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, 1, side, side), dtype=np.float32)
    for i, (r, c) in enumerate(rng.integers(2, side - 8, size=(n, 2))):
        X[i, 0, r:r + 6, c:c + 6] = 1.0
    return X


def test_ocgan_is_registered_and_scores_anomalies_above_normal_images():
    made = METHODS["OCGAN"].make(4, 3)
    assert isinstance(made, OCGAN) and (made.seed, made.epochs) == (4, 3)
    model = OCGAN(seed=0, epochs=10, batch_size=16).fit(_squares(128))
    normal = model.anomaly_score(_squares(32, seed=1))
    # Out of class: the same bright area as a horizontal bar, or scattered pixels.
    bars = np.zeros((32, 1, 16, 16), dtype=np.float32)
    bars[:, 0, 7:9, :] = 1.0
    noise = (np.random.default_rng(2).random((32, 1, 16, 16)) < 0.14).astype(np.float32)
    for anomalies in (bars, noise):
        assert np.median(model.anomaly_score(anomalies)) > np.quantile(normal, 0.9)
    # Training lowered the reconstruction loss.
    start, end = (np.mean([h["reconstruction"] for h in part])
                  for part in (model.history_[:4], model.history_[-4:]))
    assert end < 0.5 * start


def test_codes_are_bounded_and_mining_moves_them_to_where_the_classifier_says_out_of_class():
    model = OCGAN(seed=1, epochs=2).fit(_squares(64))
    x = torch.as_tensor(_squares(16, seed=3)) * 2 - 1
    codes = model.encoder_(x).detach()
    assert codes.abs().max() <= 1.0 and codes.std() > 0.01
    start = torch.rand(32, model.latent_dim, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mined = model.mine_negatives(start)
    assert mined.abs().max() <= 1.0 and not torch.equal(mined, start)
    in_class_logit = lambda z: model.classifier_(model.decoder_(z))[0].mean()  # noqa: E731
    with torch.no_grad():
        assert in_class_logit(mined) < in_class_logit(start)
    assert all(p.requires_grad for p in model.classifier_.parameters())  # unfrozen afterwards
    # The classifier loss is the binary cross-entropy: low when it is right, high when swapped.
    with torch.no_grad():
        reconstructions = model.decoder_(codes)
        decoded = model.decoder_(start[:16])
        right = model.classifier_loss(reconstructions, decoded)
        swapped = model.classifier_loss(decoded, reconstructions)
    assert right < swapped


def test_without_mining_the_codes_stay_put():
    model = OCGAN(seed=0, epochs=1, mining_steps=0).fit(_squares(64))
    start = torch.rand(8, model.latent_dim, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert torch.equal(model.mine_negatives(start), start)
