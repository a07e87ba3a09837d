"""What a fitted detector's networks make of a query: reconstructions, latent codes, critic features.

These views read the networks ``fit`` trained, chunk by chunk like scoring
does; the anomaly score itself is combined in :mod:`danogan_sk.detector_scoring`.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

__all__ = ["NetworkViewsMixin"]


class NetworkViewsMixin:
    """``reconstruct``, ``encode`` and ``critic_features`` of a fitted detector.

    Relies on the detector's ``networks_``, ``data_min_``, ``data_range_``
    and its chunked ``_in_chunks`` (:class:`danogan_sk.inputs.InputMixin`).
    """

    def reconstruct(self, X) -> np.ndarray:
        """Reconstruct each sample with its cluster's encoder and generator: ``G_k(E_k(x))``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) or (n_samples, C, H, W)
            Query samples.

        Returns
        -------
        X_hat : ndarray of the same shape as ``X``
            The reconstructions, in the units of the training data.

        Examples
        --------
        >>> import numpy as np
        >>> from danogan_sk import DAnoGANDetector
        >>> X = np.random.default_rng(0).random((64, 8, 8))
        >>> det = DAnoGANDetector(n_generators=2, n_epochs=1, xzx_epochs=0,
        ...                       base_channels=4, random_state=0).fit(X)
        >>> det.reconstruct(X[:5]).shape
        (5, 8, 8)
        """
        check_is_fitted(self)
        shape = np.shape(X)
        compute = lambda batch: self.networks_.reconstruct(batch).reconstruction  # noqa: E731
        parts = self._in_chunks(X, True, compute)
        scaled = np.concatenate([p.cpu().numpy().reshape(p.shape[0], -1) for p in parts])
        X_hat = (scaled.astype(np.float64) + 1.0) / 2.0 * self.data_range_ + self.data_min_
        return X_hat.reshape(shape)

    def encode(self, X) -> tuple[np.ndarray, np.ndarray]:
        """The cluster ``k = argmax C(D_i(x))`` of each sample and its latent code ``E_k(x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) or (n_samples, C, H, W)
            Query samples.

        Returns
        -------
        latent : ndarray of shape (n_samples, latent_dim)
            Latent codes in the generators' [-1, 1] input space.
        cluster : ndarray of shape (n_samples,)
            The generator/encoder each sample was routed to.

        Examples
        --------
        >>> import numpy as np
        >>> from danogan_sk import DAnoGANDetector
        >>> X = np.random.default_rng(0).random((64, 8, 8))
        >>> det = DAnoGANDetector(n_generators=2, latent_dim=3, n_epochs=1, xzx_epochs=0,
        ...                       base_channels=4, random_state=0).fit(X)
        >>> latent, cluster = det.encode(X[:5])
        >>> latent.shape, cluster.shape
        ((5, 3), (5,))
        """
        check_is_fitted(self)
        parts = list(self._in_chunks(X, True, self.networks_.reconstruct))
        latent = np.concatenate([p.latent.cpu().numpy() for p in parts])
        return latent, np.concatenate([p.cluster.cpu().numpy() for p in parts])

    def critic_features(self, X) -> np.ndarray:
        """The critic's intermediate features ``D_i(x)``: what the classifier and the memory bank read.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) or (n_samples, C, H, W)
            Query samples.

        Returns
        -------
        features : ndarray of shape (n_samples, C', H', W') or (n_samples, d)
            Feature maps for images, feature vectors for tabular data (float32).

        Examples
        --------
        >>> import numpy as np
        >>> from danogan_sk import DAnoGANDetector
        >>> X = np.random.default_rng(0).random((64, 8, 8))
        >>> det = DAnoGANDetector(n_generators=2, n_epochs=1, xzx_epochs=0,
        ...                       base_channels=4, random_state=0).fit(X)
        >>> det.critic_features(X[:5]).shape
        (5, 4, 4, 4)
        """
        check_is_fitted(self)
        compute = lambda batch: self.networks_.critic.features(batch).cpu()  # noqa: E731
        return torch.cat(list(self._in_chunks(X, True, compute))).numpy()
