"""A memory bank of the training data's critic features, and distances to it.

The critic's intermediate features ``D_i`` (the map the cluster classifier
reads) separate normal from anomalous data long before the generators
reconstruct well. Keeping the features of normal training samples and
scoring a query by its distance to the nearest of them is how
memory-bank detectors such as PatchCore score; here it is one term of the
anomaly score (``neighbor``), combined with the others on scales learned
from normal data.

The bank holds at most ``size`` training samples (a random subsample), so
a fitted detector stays bounded whatever the training set's size: ``size``
rows of ``dim`` float32 values (``dim`` is :attr:`MemoryBank.dim`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["METRICS", "MemoryBank", "bank_rows", "feature_vectors", "map_shape"]

# Relative squared distance under which a bank row is the query itself.
_SAME_SAMPLE = 1e-5

#: Distances a bank can use: ``"cosine"`` (one minus the cosine similarity)
#: or ``"euclidean"``.
METRICS = ("cosine", "euclidean")


def feature_vectors(features: Tensor, pool: int | None, metric: str) -> Tensor:
    """One vector per sample from critic features ``D_i``.

    Parameters
    ----------
    features : Tensor of shape (n, C, H, W) or (n, d)
        Critic features.
    pool : int or None
        Average-pool feature maps to at most ``pool x pool`` positions before
        flattening (fewer values per bank row); ``None`` keeps every position.
        Feature vectors of tabular data are never pooled.
    metric : {"cosine", "euclidean"}
        With ``"cosine"`` the vectors are scaled to unit length.

    Returns
    -------
    Tensor of shape (n, dim), float32.

    Examples
    --------
    >>> feature_vectors(torch.ones(2, 3, 8, 8), pool=2, metric="euclidean").shape
    torch.Size([2, 12])
    >>> feature_vectors(torch.ones(2, 4), pool=2, metric="cosine")
    tensor([[0.5000, 0.5000, 0.5000, 0.5000],
            [0.5000, 0.5000, 0.5000, 0.5000]])
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}.")
    if features.dim() == 4 and pool is not None:
        height, width = features.shape[-2:]
        features = F.adaptive_avg_pool2d(features, (min(pool, height), min(pool, width)))
    vectors = features.flatten(1).float()
    if metric == "cosine":
        vectors = F.normalize(vectors, dim=1)
    return vectors


def map_shape(features: Tensor, pool: int | None) -> tuple[int, int, int] | None:
    """``(C, H, W)`` of the maps :func:`feature_vectors` flattens (after pooling), or ``None``
    for feature vectors.

    Examples
    --------
    >>> map_shape(torch.ones(2, 3, 8, 8), pool=2), map_shape(torch.ones(2, 3, 8, 8), None)
    ((3, 2, 2), (3, 8, 8))
    >>> map_shape(torch.ones(2, 4), pool=2) is None
    True
    """
    if features.dim() != 4:
        return None
    channels, height, width = (int(s) for s in features.shape[1:])
    if pool is not None:
        height, width = min(pool, height), min(pool, width)
    return channels, height, width


def bank_rows(n_samples: int, size: int, seed: int) -> np.ndarray:
    """Which training rows the bank keeps: all of them, or ``size`` drawn at random.

    Examples
    --------
    >>> bank_rows(5, 10, seed=0)
    array([0, 1, 2, 3, 4])
    >>> rows = bank_rows(1000, 3, seed=0)
    >>> len(rows), bool(np.all(np.diff(rows) > 0))
    (3, True)
    """
    if n_samples <= size:
        return np.arange(n_samples)
    return np.sort(np.random.default_rng(seed).choice(n_samples, size=size, replace=False))


@dataclass
class MemoryBank:
    """Feature vectors of normal samples and the distance of queries to them.

    Parameters
    ----------
    vectors : Tensor of shape (size, dim)
        The bank, as :func:`feature_vectors` returns it.
    n_neighbors : int
        A query's distance is the mean distance to its ``n_neighbors``
        nearest bank rows.
    metric : {"cosine", "euclidean"}
        Distance between vectors.
    pool : int or None
        Pooling of the feature maps (see :func:`feature_vectors`).
    shifts : tuple of (int, int), default=()
        Pixel offsets ``(rows, columns)`` at which image queries are also
        compared; their ``neighbor`` term is the smallest distance over the
        query and its moved copies (:func:`danogan_sk.scoring.neighbor_distance`).
        The bank itself holds each training sample once. Banks saved before
        this field existed read ``()``.
    groups : Tensor of int64, shape (size,), or None, default=None
        A group of each bank row (the cluster a training sample was routed
        to, for a bank of latent codes, which only codes of one encoder can
        be compared with). A query given its group is compared with that
        group's rows only, unless the group holds ``n_neighbors`` rows or
        fewer besides the query itself; then with every row. ``None``: one
        group. Banks saved before this field existed read ``None``.
    map_shape : tuple of (int, int, int) or None, default=None
        ``(C, H, W)`` of the feature maps whose flattened values the rows
        hold, for :meth:`patch_distance`; ``None`` for feature vectors (and
        banks saved before this field existed), which have no patches.

    Examples
    --------
    >>> bank = MemoryBank(torch.tensor([[0.0, 0.0], [3.0, 4.0]]), 1, "euclidean", None)
    >>> bank.distance(torch.tensor([[0.0, 1.0], [3.0, 3.0]]))
    tensor([1., 1.])
    >>> bank.distance(torch.tensor([[3.0, 4.0]]))  # a bank row itself: the next one counts
    tensor([5.])
    """

    vectors: Tensor
    n_neighbors: int
    metric: str
    pool: int | None
    shifts: tuple[tuple[int, int], ...] = ()
    groups: Tensor | None = None
    map_shape: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}.")
        # One row more than the neighbours, so a bank row's own entry can be skipped.
        if not 1 <= self.n_neighbors < len(self):
            raise ValueError(
                f"n_neighbors={self.n_neighbors} needs a bank of more than {self.n_neighbors} "
                f"rows; this one has {len(self)}."
            )

    @property
    def dim(self) -> int:
        """Values per bank row."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def to(self, device: torch.device | str) -> "MemoryBank":
        """The same bank with its vectors on ``device``."""
        groups = None if self.groups is None else self.groups.to(device)
        return MemoryBank(self.vectors.to(device), self.n_neighbors, self.metric, self.pool,
                          self.shifts, groups, self.map_shape)

    def patch_distance(self, features: Tensor, exclude: Tensor | None = None) -> Tensor:
        """The largest, over a query's feature-map positions, of the smallest distance between
        its values there and the bank rows' values at the same position.

        Each position of the map ``D_i`` describes one patch of the image
        (the critic's receptive field there); as in PatchCore, a query with
        one patch unlike the same patch of every training sample scores
        high even when its whole map is near one of them. Distances are
        euclidean between the ``C`` values at a position, after the bank's
        pooling and scaling (:func:`feature_vectors`). A bank row identical
        to the query (as in :meth:`distance`) is left out.

        Parameters
        ----------
        features : Tensor of shape (n, C, H, W)
            Critic features ``D_i`` of the queries.
        exclude : Tensor of int64, shape (n,), optional
            The bank row to leave out for each query (-1: none), when the
            caller knows it (:meth:`distance_and_own_rows`); without it, one
            search of the whole maps finds the queries' own rows.

        Returns
        -------
        Tensor of shape (n,)

        Examples
        --------
        >>> rows = torch.tensor([[0.0, 0.0, 0.0, 0.0], [5.0, 5.0, 5.0, 5.0]])  # 2 channels, 1 x 2 positions
        >>> bank = MemoryBank(rows, 1, "euclidean", None, map_shape=(2, 1, 2))
        >>> query = torch.tensor([[[[0.0, 5.0]], [[0.0, 5.0]]]])  # position 0 as row 0's, 1 as row 1's
        >>> bank.patch_distance(query), bank.distance(query)
        (tensor([0.]), tensor([7.0711]))
        >>> bank.patch_distance(rows[1].reshape(1, 2, 1, 2))  # a bank row: the other row counts
        tensor([7.0711])
        """
        return self.patch_distances(features, exclude).amax(1)

    def patch_distances(self, features: Tensor, exclude: Tensor | None = None) -> Tensor:
        """For each position of a query's feature map, the smallest distance between its values
        there and the bank rows' values at the same position (:meth:`patch_distance` is their
        largest).

        Parameters
        ----------
        features : Tensor of shape (n, C, H, W)
            Critic features ``D_i`` of the queries.
        exclude : Tensor of int64, shape (n,), optional
            As in :meth:`patch_distance`.

        Returns
        -------
        Tensor of shape (n, H * W)
            Positions in row-major order.

        Examples
        --------
        >>> rows = torch.tensor([[0.0, 0.0, 0.0, 0.0], [5.0, 5.0, 5.0, 5.0]])  # 2 channels, 1 x 2 positions
        >>> bank = MemoryBank(rows, 1, "euclidean", None, map_shape=(2, 1, 2))
        >>> bank.patch_distances(torch.tensor([[[[0.0, 4.0]], [[0.0, 5.0]]]]))
        tensor([[0., 1.]])
        """
        if self.map_shape is None:
            raise ValueError("This memory bank holds feature vectors, not feature maps: it has no patches.")
        if exclude is None:
            exclude = self.distance_and_own_rows(features)[1]
        channels, height, width = self.map_shape
        # Position-major and contiguous, so that each position's product reads packed rows
        # (half the time of strided slices of the flattened maps).
        queries = feature_vectors(features, self.pool, self.metric).reshape(-1, channels, height * width)
        queries = queries.permute(2, 0, 1).contiguous()
        bank = self.vectors.reshape(-1, channels, height * width).permute(2, 0, 1).contiguous()
        bank_norms = bank.pow(2).sum(2)
        rows = exclude.clamp_min(0)[:, None]
        smallest_by_position = []
        for q, b, b_norms in zip(queries, bank, bank_norms):
            # |b|^2 - 2 q.b in one pass; |q|^2 is the same for every row and added after the min.
            partial = torch.addmm(b_norms, q, b.T, alpha=-2.0)
            partial.scatter_(1, rows, torch.where(exclude[:, None] >= 0, torch.inf, partial.gather(1, rows)))
            smallest_by_position.append((partial.amin(1) + q.pow(2).sum(1)).clamp_min_(0.0))
        return torch.stack(smallest_by_position, dim=1).sqrt()

    def distance(self, features: Tensor, exclude: Tensor | None = None,
                 groups: Tensor | None = None) -> Tensor:
        """Mean distance of each query to its ``n_neighbors`` nearest bank rows.

        A bank row identical to the query (within float32 rounding: squared
        difference at most ``1e-5`` of the query's squared norm) is the query
        itself, a training sample kept in the bank, and is left out: the
        training data then gets the distances of unseen normal data, which
        is what ``offset_`` and the term's scale are learned from.

        Parameters
        ----------
        features : Tensor of shape (n, ...)
            Critic features ``D_i`` of the queries.
        exclude : Tensor of int64, shape (n,), optional
            A bank row to leave out for each query (-1: none), in place of
            the identical row: the row of the training sample a moved copy
            was made from, which the copy no longer matches exactly (see
            :meth:`distance_and_own_rows`).
        groups : Tensor of int64, shape (n,), optional
            The queries' groups, for a bank with :attr:`groups`: each query
            is compared with its group's rows (see the class's ``groups``).

        Returns
        -------
        Tensor of shape (n,)

        Examples
        --------
        >>> bank = MemoryBank(torch.tensor([[0.0], [1.0], [5.0], [6.0]]), 1, "euclidean", None,
        ...                   groups=torch.tensor([0, 0, 1, 1]))
        >>> bank.distance(torch.tensor([[4.0], [4.0]]), groups=torch.tensor([0, 1]))
        tensor([3., 1.])
        """
        return self.neighbors(features, exclude, groups)[0].mean(1)

    def neighbors(self, features: Tensor, exclude: Tensor | None = None,
                  groups: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Distances to each query's ``n_neighbors`` nearest bank rows, and which rows they are.

        The query's own row (or the row ``exclude`` names) is left out as in
        :meth:`distance`, which is the mean of the distances returned here.

        Parameters
        ----------
        features : Tensor of shape (n, ...)
            Critic features ``D_i`` of the queries.
        exclude, groups : Tensor of int64, shape (n,), optional
            As in :meth:`distance`.

        Returns
        -------
        distances : Tensor of shape (n, n_neighbors)
            Nearest first.
        rows : Tensor of int64, shape (n, n_neighbors)
            Their indices in :attr:`vectors`.

        Examples
        --------
        >>> bank = MemoryBank(torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 2.0]]), 1, "euclidean", None)
        >>> bank.neighbors(torch.tensor([[0.0, 1.5], [3.0, 4.0]]))
        (tensor([[0.5000],
                [3.6056]]), tensor([[2],
                [2]]))
        >>> bank.neighbors(torch.tensor([[0.0, 1.5]]), exclude=torch.tensor([2]))
        (tensor([[1.5000]]), tensor([[0]]))
        """
        distances, rows, _ = self._search(features, exclude, groups)
        return distances, rows

    def distance_and_own_rows(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`distance`, and the bank row each query is (identical within float32
        rounding, the row that distance leaves out) or -1, from one search.

        Examples
        --------
        >>> bank = MemoryBank(torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 2.0]]), 1, "euclidean", None)
        >>> bank.distance_and_own_rows(torch.tensor([[3.0, 4.0], [0.0, 1.5]]))
        (tensor([3.6056, 0.5000]), tensor([ 1, -1]))
        """
        distances, _, own = self._search(features, None)
        return distances.mean(1), own

    def _search(self, features: Tensor, exclude: Tensor | None,
                groups: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Distances and rows of the ``n_neighbors`` nearest rows, and the row left out as the query itself."""
        queries = feature_vectors(features, self.pool, self.metric)
        squared, query_norms = self._squared_distances(queries)
        if groups is not None and self.groups is not None:
            same = groups[:, None] == self.groups[None, :]
            # n_neighbors + 1 rows: the query's own row may be among them and left out.
            enough = same.sum(1, keepdim=True) > self.n_neighbors
            # In place: no second distance matrix.
            squared.masked_fill_(~(same | ~enough), torch.inf)
        if exclude is None:
            nearest, rows = torch.topk(squared, self.n_neighbors + 1, dim=1, largest=False)
            itself = nearest[:, :1] <= _SAME_SAMPLE * query_norms
            kept = torch.where(itself, nearest[:, 1:], nearest[:, :-1])
            kept_rows = torch.where(itself, rows[:, 1:], rows[:, :-1])
            own = torch.where(itself[:, 0], rows[:, 0], -1)
        else:
            # A scatter, not boolean indexing: an accelerator need not wait for the host.
            rows = exclude.clamp_min(0)[:, None]
            left_out = torch.where(exclude[:, None] >= 0, torch.inf, squared.gather(1, rows))
            squared.scatter_(1, rows, left_out)
            kept, kept_rows = torch.topk(squared, self.n_neighbors, dim=1, largest=False)
            own = exclude
        # The expansion |q|^2 + |b|^2 - 2 q.b loses the digits of a distance much smaller than
        # the norms (close latent codes), and its rounding depends on the batch: the chosen
        # rows' distances are computed again from the differences.
        exact = (queries[:, None, :] - self.vectors[kept_rows]).pow(2).sum(2)
        kept = torch.where(torch.isfinite(kept), exact, kept)
        # Unit vectors for "cosine": 1 - cos(q, b) = |q - b|^2 / 2.
        distances = kept / 2.0 if self.metric == "cosine" else kept.sqrt()
        return distances, kept_rows, own

    def _squared_distances(self, queries: Tensor) -> tuple[Tensor, Tensor]:
        """Squared distances of the queries' vectors (as :func:`feature_vectors` gives them) to
        every bank row, and the queries' squared norms."""
        query_norms = queries.pow(2).sum(1, keepdim=True)
        squared = (
            query_norms + self.vectors.pow(2).sum(1) - 2.0 * (queries @ self.vectors.T)
        ).clamp_min_(0.0)
        return squared, query_norms
