"""Compare score weightings without labels: clusters of normal data as pseudo-anomalies.

A detector is fitted on normal data only, so there are no anomalies to
choose its score's weights on. The classifier of a fitted detector splits
normal data into clusters; taking each cluster in turn out of the
nearest-neighbour searches and scoring it against the other clusters'
samples gives every weighting an AUC that needs no labels: how well it
finds "a kind of data the bank has not seen". The ``neighbor`` and ``patch``
terms are computed afresh from the given data with the cluster left out;
the ``critic``, ``latent`` and eq. 5.1 terms come from the fitted networks,
which did see every cluster, so the comparison is fair between weightings
of the bank terms (the ``neighbor`` and ``patch`` weights) and not for the
others. The ``neighbor`` term here is the distance to the nearest other
sample as it is (neither ``neighbor_shift`` moves nor ``n_neighbors`` apply).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.utils import check_random_state
from torch import Tensor

from .memory_bank import feature_vectors, map_shape
from .scoring import anomaly_score, spread

if TYPE_CHECKING:  # the estimator calls choose_patch_weight_on_bank at fit
    from .estimator import DAnoGANDetector

__all__ = ["AUTO_PATCH_WEIGHT", "WEIGHTING_PARAMS", "choose_patch_weight", "choose_patch_weight_on_bank",
           "group_aucs", "left_out_distances", "outside_group_minima", "pseudo_anomaly_aucs"]

#: Parameters a weighting may set; the others of the detector stay as they are.
WEIGHTING_PARAMS = ("alpha", "critic_weight", "neighbor_weight", "latent_weight", "patch_weight")
#: The weight that ``patch_weight="auto"`` may move from ``neighbor_weight`` to the ``patch`` term:
#: at the other default weights, ``neighbor_weight=0.3, patch_weight=0.35``, the split that the
#: development protocol compared with the whole-map distance alone (``docs/benchmarks.md``).
AUTO_PATCH_WEIGHT = 0.35


class _TooFewClusters(ValueError):
    """Fewer than two clusters hold enough sampled rows to be scored."""


def outside_group_minima(distances: Tensor, groups: np.ndarray) -> Tensor:
    """For each group of the columns and each row, the smallest distance to a column of
    another group.

    Parameters
    ----------
    distances : Tensor of shape (n_rows, n_columns)
    groups : ndarray of shape (n_columns,)
        The group of each column; at least two groups.

    Returns
    -------
    Tensor of shape (n_groups, n_rows)
        Groups in the order of ``np.unique(groups)``.

    Examples
    --------
    >>> d = torch.tensor([[1.0, 2.0, 3.0], [6.0, 5.0, 4.0]])
    >>> outside_group_minima(d, np.array([0, 0, 1]))
    tensor([[3., 4.],
            [1., 5.]])
    """
    labels = np.unique(groups)
    within = torch.stack([distances[:, torch.from_numpy(groups == g)].amin(1) for g in labels])
    # The smallest over the other groups: each group's minimum, all but its own.
    return torch.stack([torch.cat([within[:i], within[i + 1:]]).amin(0) for i in range(len(labels))])


def left_out_distances(features: np.ndarray, groups: np.ndarray, queries: np.ndarray, pool: int | None,
                       metric: str, patches: bool) -> dict[str, Tensor]:
    """For each group, the queries' ``neighbor`` (and ``patch``) distances to the samples of
    the other groups, as a memory bank of them would give them.

    Parameters
    ----------
    features : ndarray of shape (n, C, H, W) or (n, d)
        Critic features ``D_i`` of the samples.
    groups : ndarray of shape (n,)
        The group of each sample; at least two groups.
    queries : ndarray of int
        Rows of ``features`` to score; each query's own row is left out.
    pool, metric :
        The memory bank's pooling and distance (:func:`danogan_sk.memory_bank.feature_vectors`).
    patches : bool
        Whether to compute the ``patch`` distances too (feature maps only).

    Returns
    -------
    dict of Tensor of shape (n_groups, n_queries)
        ``"neighbor"`` and, with ``patches``, ``"patch"``; groups in the
        order of ``np.unique(groups)``.

    Examples
    --------
    >>> features = np.array([[0.0], [1.0], [5.0], [7.0]], dtype=np.float32)
    >>> left_out_distances(features, np.array([0, 0, 1, 1]), np.array([0, 3]), None, "euclidean", False)
    {'neighbor': tensor([[5., 2.],
            [1., 6.]])}
    """
    features = torch.from_numpy(features)
    return _left_out_vector_distances(feature_vectors(features, pool, metric), map_shape(features, pool), groups,
                                      queries, metric, patches)


def _left_out_vector_distances(vectors: Tensor, maps: tuple[int, int, int] | None, groups: np.ndarray,
                               queries: np.ndarray, metric: str, patches: bool) -> dict[str, Tensor]:
    """:func:`left_out_distances` from the samples' bank vectors (:func:`feature_vectors`'s rows,
    such as a memory bank holds them) and the shape of the maps they flatten (:func:`map_shape`)."""
    vectors = vectors.cpu()
    q = torch.from_numpy(queries)
    own = (torch.arange(len(queries)), q)
    whole = torch.cdist(vectors[q], vectors)
    whole[own] = torch.inf
    nearest = outside_group_minima(whole, groups)
    # Unit vectors for "cosine": the bank's distance 1 - cos(q, b) is |q - b|^2 / 2.
    distances = {"neighbor": nearest.pow(2) / 2.0 if metric == "cosine" else nearest}
    if patches:
        # The bank's scaling (pooling, then unit length for cosine) before positions are compared,
        # as MemoryBank.patch_distance compares them.
        by_position = vectors.reshape(len(vectors), maps[0], -1).permute(2, 0, 1).contiguous()
        largest = None
        for position in by_position:
            d = torch.cdist(position[q], position)
            d[own] = torch.inf
            minima = outside_group_minima(d, groups)
            largest = minima if largest is None else torch.maximum(largest, minima)
        distances["patch"] = largest
    return distances


def _checked_weightings(detector: DAnoGANDetector, weightings: Sequence[Mapping]) -> list[dict]:
    """Each weighting as the detector's full set of weighting parameters, validated as
    ``set_params`` then scoring would validate them (on a copy: the detector is not changed)."""
    if isinstance(weightings, Mapping) or not len(weightings):
        raise ValueError("weightings must be a non-empty list of dicts of score weights, "
                         f"such as [{{}}, {{'neighbor_weight': 0.3, 'patch_weight': 0.35}}]; got {weightings!r}.")
    checked = []
    for weighting in weightings:
        unknown = sorted(set(weighting) - set(WEIGHTING_PARAMS))
        if unknown:
            raise ValueError(f"A weighting may set {list(WEIGHTING_PARAMS)}, not {unknown}.")
        probe = copy.copy(detector).set_params(**weighting)
        probe._validate_params()
        probe._check_score_settings(has_bank=detector.memory_bank_ is not None,
                                    has_latent_bank=detector.latent_bank_ is not None)
        checked.append(probe._score_weights())
    return checked


def pseudo_anomaly_aucs(detector: DAnoGANDetector, X, weightings: Sequence[Mapping], *,
                        n_queries: int = 2000, min_group: int = 20, random_state=0) -> np.ndarray:
    """Mean AUC of each score weighting at finding clusters of normal data left out of the banks.

    For every cluster the classifier routes ``X`` to that holds at least
    ``min_group`` of the sampled rows (and leaves as many outside), the
    sampled rows of that cluster are the anomalies and the other sampled
    rows the normal data; every sampled row's ``neighbor`` and ``patch``
    distances are searched among the rows of ``X`` outside that cluster (its
    own row left out), and the other terms are the fitted detector's. Each
    term is divided by its spread over that cluster's normal rows, as the
    detector divides by the training data's spread.

    On the development protocol (MNIST and Fashion-MNIST training files),
    choosing between ``patch_weight=0`` and ``neighbor_weight=0.3,
    patch_weight=0.35`` by the larger value kept most of the latter's gain
    on MNIST and the former's score on Fashion-MNIST
    (``docs/benchmarks.md``); ``patch_weight="auto"`` makes this choice at
    ``fit`` (:func:`choose_patch_weight`).

    Parameters
    ----------
    detector : DAnoGANDetector
        A fitted detector.
    X : array-like
        Normal data, as ``fit`` takes it: the training data, or normal data
        the detector has not seen. Every row is searched: the search holds
        two ``n_queries x len(X)`` float32 matrices at a time (80 MB at the
        defaults for 5,000 rows) besides the rows' critic features; pass a
        random subset of a large training set.
    weightings : list of dict
        Each a set of score weights (:data:`WEIGHTING_PARAMS`); the weights
        a dict leaves out are the detector's. ``{}`` is the detector's own
        (with ``patch_weight="auto"``, the weights its fit chose).
    n_queries : int, default=2000
        Rows of ``X`` drawn once and scored (all of them when ``X`` has fewer);
        every row of ``X`` stays in the banks.
    min_group : int, default=20
        Sampled rows a cluster needs, inside and outside, to be scored.
    random_state : int, RandomState instance or None, default=0
        Draws the sampled rows.

    Returns
    -------
    ndarray of shape (len(weightings),)
        The mean over the scored clusters of each weighting's ROC AUC.

    Raises
    ------
    ValueError
        For an invalid weighting, or when fewer than two clusters can be scored.

    Examples
    --------
    >>> import numpy as np
    >>> from danogan_sk import DAnoGANDetector
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (100, 4)), rng.normal(6, 1, (100, 4))])
    >>> det = DAnoGANDetector(n_generators=3, n_epochs=2, xzx_epochs=0, random_state=0).fit(X)
    >>> aucs = pseudo_anomaly_aucs(det, X, [{}, {"critic_weight": 0.0, "neighbor_weight": 1.0,
    ...                                          "latent_weight": 0.0}], min_group=5)
    >>> aucs.shape, bool(np.all((aucs >= 0) & (aucs <= 1)))
    ((2,), True)
    """
    checked = _checked_weightings(detector, weightings)
    # No bank search here: the neighbour and patch terms are searched below, each cluster left out.
    components = detector._components(X, validate=True, neighbors=False)
    features = torch.from_numpy(detector.critic_features(X))
    vectors = feature_vectors(features, detector.feature_pool, detector.neighbor_metric)
    return _aucs_of_terms(detector, components, vectors, map_shape(features, detector.feature_pool), checked,
                          n_queries=n_queries,
                          min_group=min_group, random_state=random_state)


def _aucs_of_terms(detector: DAnoGANDetector, components: Mapping[str, np.ndarray], vectors: Tensor,
                   maps: tuple[int, int, int] | None, checked: Sequence[Mapping[str, float]], *, n_queries: int = 2000,
                   min_group: int = 20, random_state=0) -> np.ndarray:
    """:func:`pseudo_anomaly_aucs` from the rows' score components (``cluster`` and the
    terms no cluster changes), their bank vectors and their maps' shape, for weightings
    already checked (:func:`_checked_weightings`)."""
    groups = components["cluster"]
    n = len(groups)
    rng = check_random_state(random_state)
    queries = np.sort(rng.choice(n, size=min(n_queries, n), replace=False))
    _scored_groups(np.unique(groups), groups[queries], min_group)  # before the search: it needs two groups
    # _checked_weightings refused patch weights without feature maps (tabular data).
    patches = any(w["patch_weight"] > 0 for w in checked)
    left_out = _left_out_vector_distances(vectors, maps, groups, queries, detector.neighbor_metric, patches)
    fixed = {name: components[name][queries] for name in ("mse", "kl", "critic", "latent")
             if name in components}
    aucs = group_aucs(fixed, left_out, np.unique(groups), groups[queries], checked, min_group,
                      bool(detector.scale_terms))
    return aucs.mean(0)


def _scored_groups(labels: np.ndarray, query_groups: np.ndarray, min_group: int) -> list[int]:
    """Indices into ``labels`` of the groups with ``min_group`` queries inside and outside;
    an error when fewer than two."""
    scored = [i for i, g in enumerate(labels)
              if min_group <= np.sum(query_groups == g) <= len(query_groups) - min_group]
    if len(scored) < 2:
        sizes = {int(g): int(np.sum(query_groups == g)) for g in labels if np.any(query_groups == g)}
        raise _TooFewClusters(
            f"Pseudo-anomalies need at least two clusters with min_group={min_group} sampled rows "
            f"inside and outside; the classifier routed the {len(query_groups)} sampled rows as {sizes}. "
            "Pass more data or a smaller min_group."
        )
    return scored


def group_aucs(fixed: Mapping[str, np.ndarray], left_out: Mapping[str, Tensor], labels: np.ndarray,
               query_groups: np.ndarray, weightings: Sequence[Mapping[str, float]], min_group: int,
               scale_terms: bool) -> np.ndarray:
    """Each weighting's AUC at finding each group that has ``min_group`` queries inside and outside.

    Parameters
    ----------
    fixed : dict of ndarray of shape (n_queries,)
        The queries' terms that no group changes (``critic``, ``latent``, ...).
    left_out : dict of Tensor of shape (len(labels), n_queries)
        The terms computed with each group left out (:func:`left_out_distances`).
    labels : ndarray
        The groups, in the order of ``left_out``'s rows.
    query_groups : ndarray of shape (n_queries,)
        The group of each query.
    weightings : list of dict
        Full sets of ``alpha`` and the four score weights.
    min_group : int
    scale_terms : bool
        Divide each term by its spread over the group's normal queries first.

    Returns
    -------
    ndarray of shape (n_scored_groups, len(weightings))

    Raises
    ------
    ValueError
        When fewer than two groups can be scored.
    """
    scored = _scored_groups(labels, query_groups, min_group)
    aucs = np.zeros((len(scored), len(weightings)))
    for row, i in enumerate(scored):
        anomalous = query_groups == labels[i]
        terms = dict(fixed, **{name: d[i].double().numpy() for name, d in left_out.items()})
        spreads = {name: spread(values[~anomalous]) for name, values in terms.items()} if scale_terms else None
        for column, w in enumerate(weightings):
            score = anomaly_score(terms, w["alpha"], w["critic_weight"], spreads,
                                  neighbor_weight=w["neighbor_weight"], latent_weight=w["latent_weight"],
                                  patch_weight=w["patch_weight"])
            aucs[row, column] = roc_auc_score(anomalous, score)
    return aucs


def choose_patch_weight(detector: DAnoGANDetector, X, *, random_state=0) -> tuple[float, np.ndarray | None]:
    """What ``patch_weight="auto"`` scores with: 0, or :data:`AUTO_PATCH_WEIGHT` taken from
    ``neighbor_weight``, whichever finds left-out clusters of ``X`` better.

    The two weightings are compared by :func:`pseudo_anomaly_aucs`; a tie
    keeps 0. Without a choice to make, 0 is kept and no AUC is computed:
    tabular data (no patches), no memory bank, ``neighbor_weight`` below
    :data:`AUTO_PATCH_WEIGHT`, or fewer than two clusters with enough rows.

    Parameters
    ----------
    detector : DAnoGANDetector
        A fitted detector (its ``patch_weight`` is not read).
    X : array-like
        Normal data as ``fit`` takes it, such as the rows of the memory bank.
    random_state : int, RandomState instance or None, default=0
        Draws the rows scored (:func:`pseudo_anomaly_aucs`).

    Returns
    -------
    patch_weight : float
    aucs : ndarray of shape (2,) or None
        The mean pseudo-AUC of ``patch_weight=0`` and of the split, or
        ``None`` when there was no choice to make.
    """
    return _choose_patch_weight(detector, lambda weightings: pseudo_anomaly_aucs(
        detector, X, weightings, random_state=random_state))


def choose_patch_weight_on_bank(detector: DAnoGANDetector, bank_components: Mapping[str, np.ndarray], *,
                                random_state=0) -> tuple[float, np.ndarray | None]:
    """:func:`choose_patch_weight` on the memory bank's rows from what ``fit`` has computed:
    their score components (``cluster`` and the terms no cluster changes, in the bank's row
    order) and the bank's own vectors, instead of computing both again."""
    bank = detector.memory_bank_

    def aucs_of(weightings):
        checked = _checked_weightings(detector, weightings)
        return _aucs_of_terms(detector, bank_components, bank.vectors, bank.map_shape, checked,
                              random_state=random_state)

    return _choose_patch_weight(detector, aucs_of)


def _choose_patch_weight(detector: DAnoGANDetector, aucs_of) -> tuple[float, np.ndarray | None]:
    """The choice of :func:`choose_patch_weight`, with ``aucs_of(weightings)`` giving the pseudo-AUCs."""
    bank = detector.memory_bank_
    if bank is None or bank.map_shape is None or detector.neighbor_weight < AUTO_PATCH_WEIGHT:
        return 0.0, None
    weightings = [{"patch_weight": 0.0},
                  {"neighbor_weight": detector.neighbor_weight - AUTO_PATCH_WEIGHT, "patch_weight": AUTO_PATCH_WEIGHT}]
    try:
        aucs = aucs_of(weightings)
    except _TooFewClusters:
        return 0.0, None
    return (AUTO_PATCH_WEIGHT if aucs[1] > aucs[0] else 0.0), aucs
