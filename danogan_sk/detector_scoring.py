"""How a fitted detector scores: what ``fit`` builds for it, the terms, their sum, ``offset_``.

:class:`ScoringMixin` holds what :class:`~danogan_sk.DAnoGANDetector` does
once its networks are trained: it builds the memory banks and the critic
snapshots' spreads from the training data, computes the per-sample terms
(:func:`danogan_sk.scoring.score_components`) chunk by chunk, weighs them at
the current scoring parameters, which ``set_params`` may change after
``fit``, and derives ``offset_`` and the labels from them. Training is
:mod:`danogan_sk.estimator`'s.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from .config import ScoreConfig
from .critic_snapshots import CriticSnapshots
from .memory_bank import MemoryBank, bank_rows, feature_vectors, map_shape
from .pseudo_anomalies import choose_patch_weight_on_bank
from .scoring import anomaly_score, neighbor_offsets, score_components, spread, term_spreads

__all__ = ["ScoringMixin"]

# Parameters that change the scores of a fitted detector, and so offset_.
_SCORING_PARAMS = tuple(f.name for f in fields(ScoreConfig))


class ScoringMixin:
    """``score_samples``, ``decision_function``, ``predict`` and their parts for a fitted detector.

    Relies on the detector's parameters, its trained ``networks_``,
    ``network_spec_`` and ``image_shape_``, its chunked ``_in_chunks``
    (:class:`danogan_sk.inputs.InputMixin`) and scikit-learn's
    ``_validate_params``. ``fit`` calls :meth:`_check_bank_size` and
    :meth:`_check_score_settings` before training and
    :meth:`_fit_scoring` after it.
    """

    def score_components(self, X) -> dict[str, np.ndarray]:
        """Per-sample terms of the anomaly score.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) or (n_samples, C, H, W)
            Query samples.

        Returns
        -------
        components : dict of ndarray of shape (n_samples,)
            ``mse``: squared reconstruction error (mean over values, on the
            [-1, 1] scale); ``kl``: ``KL(C(x) || C(x_hat))`` of the cluster
            distributions; ``feature_mse``: squared error between critic
            features of query and reconstruction; ``critic``: ``-D(x)``, the
            critic's value of the query negated; ``neighbor``: distance of the
            query's critic features to the nearest rows of the memory bank
            (absent without a bank); ``patch``: the largest, over the
            positions of the query's feature map, of the distance to the
            nearest bank row's values at that position (images with a bank,
            only while the score weighs it: it costs a bank search);
            ``latent``: distance of the query's
            latent code to the nearest training codes of its cluster (absent
            without a bank); ``cluster``: the generator each query was
            routed to. Raw values: ``scale_terms`` does not apply here.

        Examples
        --------
        >>> import numpy as np
        >>> from danogan_sk import DAnoGANDetector
        >>> X = np.random.default_rng(0).normal(size=(100, 3))
        >>> det = DAnoGANDetector(n_generators=2, n_epochs=1, xzx_epochs=0,
        ...                       random_state=0).fit(X)
        >>> sorted(det.score_components(X[:4]))
        ['cluster', 'critic', 'feature_mse', 'kl', 'latent', 'mse', 'neighbor']
        """
        check_is_fitted(self)
        return self._components(X, validate=True, patches=self._score_weights()["patch_weight"] > 0)

    def score_samples(self, X) -> np.ndarray:
        """Opposite of the anomaly score ``A(x)``: the higher, the more normal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) or (n_samples, C, H, W)
            Query samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-A(x)`` at the current ``alpha``, ``critic_weight`` and ``scale_terms``.

        Examples
        --------
        >>> import numpy as np
        >>> from danogan_sk import DAnoGANDetector
        >>> X = np.random.default_rng(0).normal(size=(100, 3))
        >>> det = DAnoGANDetector(n_generators=2, n_epochs=1, xzx_epochs=0,
        ...                       random_state=0).fit(X)
        >>> scores = det.score_samples(X[:4])
        >>> scores.shape
        (4,)
        >>> _ = det.set_params(critic_weight=0.0, neighbor_weight=0.0, latent_weight=0.0,
        ...                    scale_terms=False)  # eq. 5.1
        >>> bool(np.all(det.score_samples(X[:4]) <= 0))  # -A(x), and eq. 5.1 is >= 0
        True
        """
        return -self.anomaly_score_from_components(self.score_components(X))

    def decision_function(self, X) -> np.ndarray:
        """Shifted scores: negative for outliers, positive for inliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) or (n_samples, C, H, W)
            Query samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``score_samples(X) - offset_``.

        Examples
        --------
        >>> import numpy as np
        >>> from danogan_sk import DAnoGANDetector
        >>> X = np.random.default_rng(0).normal(size=(100, 3))
        >>> det = DAnoGANDetector(n_generators=2, n_epochs=1, xzx_epochs=0,
        ...                       random_state=0).fit(X)
        >>> bool(np.allclose(det.decision_function(X), det.score_samples(X) - det.offset_))
        True
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """Label each sample: +1 inlier, -1 outlier.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) or (n_samples, C, H, W)
            Query samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            -1 where ``decision_function(X) < 0``, else +1.

        Examples
        --------
        >>> import numpy as np
        >>> from danogan_sk import DAnoGANDetector
        >>> X = np.random.default_rng(0).normal(size=(100, 3))
        >>> det = DAnoGANDetector(n_generators=2, n_epochs=1, xzx_epochs=0,
        ...                       random_state=0).fit(X)
        >>> labels = det.predict(X)
        >>> sorted(set(labels.tolist())), float(np.mean(labels == -1))
        ([-1, 1], 0.1)
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    @property
    def offset_(self) -> float:
        """The ``contamination`` percentile of the training scores at the current score settings.

        Computed once per change of the scoring parameters, not per call.
        """
        settings = tuple(getattr(self, name) for name in _SCORING_PARAMS)
        cached = self.__dict__.get("_offset_cache")
        if cached is None or cached[0] != settings:
            scores = -self._training_anomaly_scores()
            cached = (settings, float(np.percentile(scores, 100.0 * self.contamination)))
            self._offset_cache = cached
        return cached[1]

    def anomaly_score_from_components(self, components: dict[str, np.ndarray]) -> np.ndarray:
        """``A(x)`` from terms already computed by :meth:`score_components`.

        ``score_samples(X)`` is ``-anomaly_score_from_components(score_components(X))``;
        computing the components once and combining them here scores the
        same samples at several settings without another pass through the
        networks.

        Parameters
        ----------
        components : dict of ndarray
            The output of :meth:`score_components` on the query samples.

        Returns
        -------
        anomaly_scores : ndarray of shape (n_samples,)
            ``A(x)`` at the current ``alpha``, ``critic_weight`` and
            ``scale_terms``; higher is more anomalous.

        Examples
        --------
        >>> import numpy as np
        >>> from danogan_sk import DAnoGANDetector
        >>> X = np.random.default_rng(0).normal(size=(100, 3))
        >>> det = DAnoGANDetector(n_generators=2, n_epochs=1, xzx_epochs=0,
        ...                       random_state=0).fit(X)
        >>> parts = det.score_components(X[:4])
        >>> bool(np.allclose(det.anomaly_score_from_components(parts), -det.score_samples(X[:4])))
        True
        """
        check_is_fitted(self, "_training_components")
        # The scoring-time parameters may be changed with set_params after
        # fit, which does not validate them.
        self._validate_params()
        self._check_score_settings(has_bank=self.memory_bank_ is not None,
                                   has_latent_bank=self.latent_bank_ is not None)
        spreads = self._term_spreads if self.scale_terms else None
        weights = self._score_weights()
        return anomaly_score(components, weights.pop("alpha"), weights.pop("critic_weight"), spreads, **weights)

    # -------------------------------------------------- built at fit

    def _fit_scoring(self, X: np.ndarray, snapshots: list[dict], seed: int, device) -> None:
        """What the score reads, from the training data ``X`` once the networks are trained: the
        critic snapshots, the memory banks, the training data's terms and their spreads, the
        fitted patch weight and ``offset_``."""
        self.critic_snapshots_ = self._critic_snapshots(snapshots, X, device)
        self.memory_bank_, self.latent_bank_ = self._build_memory_banks(X, seed)
        self._training_components = self._components(X, validate=False)
        self._term_spreads = term_spreads(self._training_components)
        self.patch_weight_, self.pseudo_anomaly_aucs_ = self._fitted_patch_weight(X, seed)
        self._offset_cache = None
        self.offset_  # noqa: B018 - computed here, so that predicting right after fit changes no attribute

    def _critic_snapshots(self, snapshots: list[dict], X: np.ndarray, device) -> CriticSnapshots | None:
        """The critics training kept at earlier epochs, each with the spread of its value on ``X``."""
        if not snapshots:
            return None
        critics = CriticSnapshots(self.network_spec_, [s["weights"] for s in snapshots],
                                  [s["epoch"] for s in snapshots], device)

        def compute(batch):
            return torch.cat([critics.values(batch), -self.networks_.critic(batch)[0][None]])

        values = torch.cat(list(self._in_chunks(X, False, compute)), dim=1).cpu().numpy()
        critics.scales = torch.tensor([spread(v) for v in values], dtype=torch.float32, device=device)
        return critics

    def _build_memory_banks(
        self, X: np.ndarray, seed: int
    ) -> tuple[MemoryBank | None, MemoryBank | None]:
        """The critic features of ``memory_bank_size`` training samples, and their latent
        codes grouped by cluster (``None, None`` for 0)."""
        if self.memory_bank_size == 0:
            return None, None
        rows = bank_rows(len(X), self.memory_bank_size, seed)
        pool, metric = self.feature_pool, self.neighbor_metric

        def compute(batch):
            features, _, cluster, latent = self.networks_.route_and_encode(batch)
            vectors = feature_vectors(features, pool, metric)
            return vectors, feature_vectors(latent, None, "euclidean"), cluster, map_shape(features, pool)

        parts = list(self._in_chunks(X[rows], False, compute))
        vectors, latents, clusters = (torch.cat([p[i] for p in parts]) for i in range(3))
        shifts = neighbor_offsets(self.neighbor_shift) if self.image_shape_ is not None else ()
        return (MemoryBank(vectors, self.n_neighbors, metric, pool, shifts, map_shape=parts[0][3]),
                MemoryBank(latents, self.n_neighbors, "euclidean", None, groups=clusters))

    def _fitted_patch_weight(self, X: np.ndarray, seed: int) -> tuple[float, np.ndarray | None]:
        """``patch_weight`` as given, or what ``"auto"`` chooses on the memory bank's rows of ``X``."""
        if self.patch_weight != "auto":
            return float(self.patch_weight), None
        # The bank's rows of the terms fit has computed, in the bank's order: nothing is computed again.
        rows = bank_rows(len(X), self.memory_bank_size, seed)
        components = {name: values[rows] for name, values in self._training_components.items()}
        return choose_patch_weight_on_bank(self, components, random_state=seed)

    # ------------------------------------------------- score settings

    def _score_weights(self) -> dict[str, float]:
        """``alpha`` and the four weights the score uses; ``patch_weight="auto"`` resolved to
        the fitted choice, taken from ``neighbor_weight`` (0 before ``fit``)."""
        patch, neighbor = self.patch_weight, float(self.neighbor_weight)
        if patch == "auto":
            patch = getattr(self, "patch_weight_", 0.0)
            neighbor = round(neighbor - patch, 12)  # 0.3, not 0.30000000000000004
        return {"alpha": float(self.alpha), "critic_weight": float(self.critic_weight),
                "neighbor_weight": neighbor, "latent_weight": float(self.latent_weight),
                "patch_weight": float(patch)}

    def _check_score_settings(self, has_bank: bool, has_latent_bank: bool | None = None) -> None:
        """The score weights sum to at most 1, and the ``neighbor``, ``latent`` and ``patch``
        terms have banks to read."""
        weights = self._score_weights()
        if weights["neighbor_weight"] < 0:
            raise ValueError(
                f"patch_weight='auto' chose patch_weight_={self.patch_weight_} at fit, taken from "
                f"neighbor_weight, but neighbor_weight={self.neighbor_weight} is smaller; set "
                "neighbor_weight to at least patch_weight_, or patch_weight to a number."
            )
        total = sum(weights[name] for name in ("critic_weight", "neighbor_weight", "latent_weight", "patch_weight"))
        if total > 1.0 + 1e-9:  # rounding of e.g. 0.3 + 0.7
            raise ValueError(
                f"critic_weight + neighbor_weight + latent_weight + patch_weight must be at most 1 "
                f"(the rest weighs eq. 5.1's terms), got {self.critic_weight} + {self.neighbor_weight} + "
                f"{self.latent_weight} + {self.patch_weight}."
            )
        for name in ("neighbor_weight", "latent_weight", "patch_weight"):
            if weights[name] and not has_bank:
                raise ValueError(
                    f"{name}={getattr(self, name)} needs a memory bank, but "
                    f"memory_bank_size=0 keeps none; use memory_bank_size > 0 or set {name}=0."
                )
        if weights["patch_weight"] and has_bank and not self._bank_has_patches():
            raise ValueError(
                f"patch_weight={self.patch_weight} needs the critic's feature maps of training "
                "images; tabular data has none (and a detector fitted by an earlier version of "
                "danogan_sk did not keep their shape; refit it). Set patch_weight=0."
            )
        if self.latent_weight and has_bank and has_latent_bank is False:
            raise ValueError(
                f"latent_weight={self.latent_weight} needs the latent codes of the training "
                "samples, which this detector, fitted by an earlier version of danogan_sk, "
                "did not keep; refit it, or set latent_weight=0."
            )

    def _bank_has_patches(self) -> bool:
        """Whether the memory bank holds feature maps (images), or will at ``fit``."""
        bank = getattr(self, "memory_bank_", None)
        if bank is not None:
            return bank.map_shape is not None
        return getattr(self, "image_shape_", None) is not None

    def _check_bank_size(self, n_samples: int) -> None:
        """Fail before training when the bank could not hold ``n_neighbors`` + 1 rows."""
        bank_size = min(self.memory_bank_size, n_samples)
        if bank_size and bank_size <= self.n_neighbors:
            raise ValueError(
                f"n_neighbors={self.n_neighbors} needs a memory bank of more than "
                f"{self.n_neighbors} training samples, but it would hold {bank_size} "
                f"(memory_bank_size={self.memory_bank_size}, {n_samples} training samples)."
            )


    # ---------------------------------------------------------- terms

    def _training_anomaly_scores(self) -> np.ndarray:
        """``A(x)`` of the training data at the current settings, from the terms ``fit`` kept."""
        check_is_fitted(self, "_training_components")
        return self.anomaly_score_from_components(self._training_components)

    def _components(self, X, validate: bool, patches: bool = True, neighbors: bool = True) -> dict[str, np.ndarray]:
        """Score components of ``X``, validated chunk by chunk if ``validate``; the ``patch``
        term only with ``patches`` (the training data's is kept at fit for ``patch_weight``
        to be set later), the ``neighbor`` and ``patch`` terms only with ``neighbors`` (a
        caller that searches a bank of its own skips the memory bank's search)."""
        bank = self.memory_bank_ if neighbors else None

        def compute(batch):
            return score_components(self.networks_, batch, bank, self.latent_bank_,
                                    self.critic_snapshots_, patches=patches)

        parts = list(self._in_chunks(X, validate, compute))
        out = {name: np.concatenate([p[name].cpu().numpy() for p in parts]) for name in parts[0]}
        return {name: values if name == "cluster" else values.astype(np.float64)
                for name, values in out.items()}
