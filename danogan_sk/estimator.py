"""``DAnoGANDetector``: D-AnoGAN behind scikit-learn's outlier-detector contract."""

from __future__ import annotations

import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_memory

from .cache_lock import locked
from .config import (
    NetworkConfig,
    TrainingConfig,
    from_params,
    keyword_signature,
    parameter_constraints,
    parameter_defaults,
)
from .detector_scoring import ScoringMixin
from .devices import resolve_device
from .inputs import InputMixin, learn_scaling, nested_images
from .network_views import NetworkViewsMixin
from .nn import NetworkSpec
from .persistence import PicklableNetworksMixin, load_networks
from .training import TrainingResult, fit_networks

__all__ = ["DAnoGANDetector", "THESIS_PARAMS"]

#: The thesis's configuration for MNIST and Fashion-MNIST (appendix B,
#: section 5.3): 15 generators, a 30-d latent space, batch 128, the entropy
#: weight decaying by 0.999 per bandit step and 500 epochs (a GPU budget).
THESIS_PARAMS: dict = {
    "n_generators": 15,
    "latent_dim": 30,
    "n_epochs": 500,
    "xzx_epochs": 500,
    "batch_size": 128,
    "n_critic": 5,
    "lr_generator": 2e-4,
    "lr_critic": 2e-4,
    "lr_encoder": 1e-3,
    "lr_classifier": 2e-4,
    "lr_bandit": 1e-3,
    "lr_xzx": 1e-3,
    "gp_weight": 10.0,
    "classifier_weight": 1.0,
    "bandit": True,
    "entropy_weight": 1000.0,
    "entropy_decay": 0.999,
    "base_channels": 32,
    "max_channels": 256,
    "shared_trunk": False,
    "alpha": 0.9,
    "critic_weight": 0.0,
    "neighbor_weight": 0.0,
    "latent_weight": 0.0,
    "patch_weight": 0.0,
    "scale_terms": False,
    "critic_average_epochs": 1,
    "critic_snapshots": 0,
    "generator_average_epochs": 1,
    "reconstruction_weight": 0.0,
    "augment_shift": 0,
}

_CHECKPOINT_FILE = "danogan_checkpoint.pt"

_DEFAULTS = parameter_defaults()


class DAnoGANDetector(
    ScoringMixin, NetworkViewsMixin, PicklableNetworksMixin, InputMixin, OutlierMixin, BaseEstimator
):
    """D-AnoGAN: anomaly detection for data made of disconnected manifolds.

    Several generators share the data: a bandit learns how many are needed,
    a classifier on the critic's features routes each sample to its
    generator, and per-generator encoders map samples back to the latent
    space. A query is scored by how badly its generator reconstructs it and
    how far the classifier's cluster distribution moves between query and
    reconstruction (thesis eq. 5.1), by how unreal the critic finds it, by
    how far its critic features are from the nearest training samples' (a
    memory bank), and by how far its latent code is from the nearest
    training codes of its cluster, and (for images) by how far one patch of
    its critic features is from the same patch of every training sample::

        A(x) = (1 - c - n - l - p) * [(1 - alpha) * mse(x, x_hat) + alpha * KL(C(x) || C(x_hat))]
               + c * (-D(x)) + n * neighbor(x) + l * latent(x) + p * patch(x)

    with ``c = critic_weight``, ``n = neighbor_weight``, ``l = latent_weight``,
    ``p = patch_weight`` and, when ``scale_terms`` is true, each term divided
    by its interquartile range on the training data. The thesis's score is
    ``critic_weight=0, neighbor_weight=0, latent_weight=0, patch_weight=0,
    scale_terms=False`` (see ``THESIS_PARAMS``).

    Fit on normal data only. ``score_samples`` returns ``-A(x)`` (higher is
    more normal, scikit-learn's convention); PyOD's convention is in
    :class:`danogan_sk.pyod.DAnoGAN`.

    Parameters
    ----------
    n_generators : int, default=10
        Number of generator/encoder pairs. Should exceed the number of
        manifolds (classes) in the normal data; the bandit turns extra
        generators off.
    latent_dim : int, default=30
        Size of each generator's latent space.
    n_epochs : int, default=10
        Epochs of phase 1 (critic, generators, encoders, classifier, bandit).
    xzx_epochs : int, default=2
        Epochs of phase 2 ("xzx"): only the encoders train, to reconstruct
        real data. 0 skips the phase.
    batch_size : int, default=64
        Mini-batch size for training (capped at the number of samples; the
        last incomplete batch of an epoch is dropped).
    n_critic : int, default=5
        Critic steps per update of the other networks.
    lr_generator, lr_critic, lr_encoder, lr_classifier, lr_bandit, lr_xzx : float
        Adam learning rates (defaults: the thesis's 2e-4, 2e-4, 1e-3, 2e-4,
        1e-3 and 1e-3).
    gp_weight : float, default=10.0
        Weight of the critic's one-sided gradient penalty.
    classifier_weight : float, default=1.0
        Weight ``lambda`` of the cluster classification loss in the
        generators' loss.
    bandit : bool, default=True
        Whether the bandit learns the cluster prior; ``False`` keeps it
        uniform (the thesis's ablation).
    entropy_weight : float, default=1000.0
        Initial weight ``nu`` of the bandit's entropy regulariser.
    entropy_decay : "auto" or float in (0, 1], default="auto"
        Per-bandit-step decay ``beta`` of the entropy weight. ``"auto"`` sets
        it from the planned length of training so that the weight reaches 1
        half way through phase 1; the thesis uses 0.999, which keeps the
        prior uniform for thousands of steps.
    validation_fraction : float in (0, 1) or None, default=None
        Fraction of the training data held out to stop each phase early:
        after every epoch the reconstruction error of these normal rows is
        measured, and a phase ends when ``n_iter_no_change`` epochs in a row
        did not improve on the best before them (history:
        ``validation_reconstruction_error``,
        ``xzx_validation_reconstruction_error``). No labels are needed. The
        held-out rows take no part in training, but do in the memory bank
        and ``offset_``. ``None`` trains on all rows for the planned epochs.
    n_iter_no_change : int, default=5
        Epochs without improvement that end a phase, with
        ``validation_fraction``.
    critic_average_epochs : int, default=3
        The critic the score reads (its value ``D(x)`` and the features
        ``D_i`` of the memory bank and the classifier) gets the mean of its
        weights at the end of the last ``critic_average_epochs`` phase-1
        epochs (all of them, when fewer ran), as stochastic weight averaging
        does; training itself is unchanged, and xzx runs with the averaged
        critic. 1 keeps the last epoch's weights (the thesis, and
        ``THESIS_PARAMS``). A GAN critic's features move from epoch to
        epoch, and with them the score; on the development protocol at
        30 + 1 epochs, 3 raised Fashion-MNIST's mean AUC by 0.011 on both
        seeds and left MNIST's as it was (0.891 both). Costs
        ``critic_average_epochs`` copies of the critic's weights during
        training.
    critic_snapshots : int, default=4
        Earlier critics the ``critic`` term also reads: training keeps the
        critic (averaged as ``critic_average_epochs`` says) at the end of
        phase-1 epochs 8, 16, 32, 64, ..., the last ``critic_snapshots`` of
        them, and the term becomes the mean of every kept critic's
        ``-D(x)`` and the last critic's, each divided by its interquartile
        range on the training data (then multiplied by the last critic's,
        so that the term keeps its units). A WGAN critic rates as unreal
        what the generators do not draw yet, which moves as they learn; the
        earlier critics keep what it found before. On the development
        protocol (all ten classes, two seeds) 4 raised MNIST's mean AUC
        at 48 + 9 epochs from 0.878 to 0.903, where the last critic alone
        had begun to fall, and moved Fashion-MNIST's by -0.006 (0.746 to
        0.740, within the spread between seeds). A fit of fewer than 9
        phase-1 epochs keeps none. 0 reads the last critic only: the
        thesis, ``THESIS_PARAMS``, and detectors fitted by version 0.4.0
        with its default, which load with 0. Costs a copy of the critic's
        weights per snapshot, in the fitted detector too, and a pass of
        each through every query when scoring.
    generator_average_epochs : int, default=1
        The same for the generators: after phase 1 they get the mean of
        their weights at the end of the last ``generator_average_epochs``
        phase-1 epochs, and xzx and the reconstructions use that mean. 1
        keeps the last epoch's weights (the thesis). Only scores that read
        reconstructions (``alpha``, eq. 5.1) see it; the default score reads
        the critic.
    reconstruction_weight : float, default=0.0
        Weight of a reconstruction term in phase 1 (not in the thesis, which
        reconstructs real data only in xzx): at each generator update, the
        real batch goes through ``G_k(E_k(x))``, ``k`` the classifier's
        cluster of each image, and ``reconstruction_weight`` times its mean
        squared error is added to the generators' and the encoders' losses.
        0 trains as the thesis does. The pixel error and eq. 5.1 read these
        reconstructions; the default score reads only the critic.
    augment_shift : int, default=0
        Data augmentation for the critic in phase 1 (not in the thesis):
        every real and every generated image the critic trains on is moved
        by a random whole number of pixels, up to ``augment_shift`` along
        each axis (drawn anew for each image and step; the uncovered border
        takes the low end of the scale), and the generators learn through
        the same moves (differentiable augmentation, as GANs trained on few
        images use). 0 trains as the thesis does. Images only; tabular rows
        are never moved. Scoring never moves anything (``neighbor_shift``
        does that).
    base_channels : int, default=32
        Channels of the full-resolution convolutions, doubled per stage
        (hidden width / 4 for feature vectors).
    max_channels : int, default=256
        Cap on the channels of any convolution.
    shared_trunk : bool, default=False
        The generators share every layer but their input layer, and the
        encoders every layer but their output layer, as MGAN's generators
        do (not in the thesis, where each pair has its own weights): every
        sample trains the shared layers, whichever cluster it belongs to.
        False trains as the thesis does.
    alpha : float in [0, 1], default=0.0
        Weight of the KL term against the reconstruction error (thesis eq.
        5.1; the thesis uses 0.9). Acts at scoring time:
        ``set_params(alpha=...)`` on a fitted detector needs no refit.
    critic_weight : float in [0, 1], default=0.25
        Weight of the critic term ``-D(x)`` against eq. 5.1's two terms. The
        critic rates data like the training data as real, so an unfamiliar
        query gets a low ``D(x)``; this catches anomalies that reconstruct
        well (thin, low-ink shapes) where the reconstruction error fails.
        0 gives the thesis's score. Acts at scoring time.
    neighbor_weight : float in [0, 1], default=0.65
        Weight of the ``neighbor`` term: the distance of the query's critic
        features ``D_i`` to the nearest training samples' in the memory bank
        (``critic_weight + neighbor_weight + latent_weight <= 1``; eq. 5.1's
        terms get the rest). A query unlike every training sample is far
        from all of them even when its generator reconstructs it well. With
        ``patch_weight="auto"`` it weighs this term and the ``patch`` term
        together, as ``fit`` shared it out. Acts at scoring time.
    latent_weight : float in [0, 1], default=0.1
        Weight of the ``latent`` term: the distance of the query's latent
        code ``E_k(x)`` to the nearest latent codes of the training samples
        in the memory bank that the classifier routed to the same cluster
        ``k`` (each encoder has a latent space of its own; with too few
        such samples, to the nearest of all). Needs a memory bank. The
        defaults (0.25 critic, 0.65 neighbour, 0.1 latent, nothing left for
        eq. 5.1's terms) were chosen on a development split of the MNIST
        and Fashion-MNIST training files (``benchmarks/dev_protocol.py``,
        ``docs/benchmarks.md``). Acts at scoring time.
    patch_weight : float in [0, 1] or "auto", default="auto"
        Weight of the ``patch`` term, for images: for each position of the
        query's critic feature map ``D_i`` (one patch of the image), the
        distance of its values to the nearest training sample's values at
        the same position; the term is the largest over the positions, as
        PatchCore scores, so that one unfamiliar patch counts even when the
        whole map lies near a training sample. Reads the memory bank (the
        query as it is, not moved); ``critic_weight + neighbor_weight +
        latent_weight + patch_weight <= 1``. Tabular data has no patches.
        Acts at scoring time. ``"auto"``: ``fit`` chooses between 0 and
        0.35 taken from ``neighbor_weight`` (``neighbor_weight=0.3,
        patch_weight=0.35`` at the defaults), whichever finds the clusters
        of the training data better when each is left out of the memory
        bank in turn (:func:`danogan_sk.pseudo_anomaly_aucs`, no labels);
        ``patch_weight_`` holds the choice. On the development split the
        choice took the split on MNIST, where it gains about 0.01 AUC, and
        0 on Fashion-MNIST, where the split loses about as much
        (``docs/benchmarks.md``). 0 without a memory bank, on tabular data
        or with ``neighbor_weight < 0.35``.
    scale_terms : bool, default=True
        Divide each term by its interquartile range on the training data
        before weighting, so that ``alpha``, ``critic_weight`` and
        ``neighbor_weight`` weigh terms of any scale alike, on any data set.
        Acts at scoring time.
    memory_bank_size : int, default=5000
        Training samples whose critic features the memory bank keeps (a
        random subset when there are more), bounding the fitted detector's
        size: ``memory_bank_size * memory_bank_.dim`` float32 values (63 MB
        at 28x28, whose ``D_i`` has 3,136 values; 164 MB at 64x64). 0 keeps
        no bank (then ``neighbor_weight`` and ``latent_weight`` must be 0). Set at ``fit``.
    n_neighbors : int, default=1
        The ``neighbor`` term is the mean distance to this many nearest bank
        rows. A training sample is never its own neighbour, so the training
        data's terms (behind ``offset_`` and the term's scale) are those of
        unseen normal data. Set at ``fit``.
    neighbor_metric : {"cosine", "euclidean"}, default="euclidean"
        Distance between feature vectors. Set at ``fit``.
    feature_pool : int or None, default=None
        Average-pool the critic's feature maps to at most
        ``feature_pool x feature_pool`` positions before they enter the bank
        (smaller banks for large images); ``None`` keeps every position.
        Set at ``fit``.
    neighbor_shift : int, default=1
        Image queries are also compared moved by up to this many pixels in
        all (``|rows| + |columns| <= neighbor_shift``: 4 moved copies at 1,
        12 at 2; the uncovered border takes the low end of the training
        data's range, the black of MNIST). The ``neighbor`` term is the
        smallest distance over the query and its copies, so a normal image
        drawn a pixel off its nearest training sample stays near it. The
        bank still holds each training sample once; scoring runs the
        critic and searches the bank once more per copy. 0 compares queries
        as they are; tabular rows are never moved. Chosen on the
        development protocol (+0.009 mean AUC on MNIST, +0.001 on
        Fashion-MNIST; ``docs/benchmarks.md``). Set at ``fit``.
    contamination : float in (0, 0.5], default=0.1
        Expected proportion of outliers, sets ``offset_``. Acts at scoring time.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` or ``(C, H, W)`` of the images when ``X`` is given as 2-D
        rows. ``None`` with 2-D ``X``: fully connected networks (tabular
        data). Image arrays ``(n, H, W)`` and ``(n, C, H, W)`` carry their
        own shape.
    device : str, default="auto"
        Torch device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``,
        ``"cuda"``, ``"cuda:1"``...
    memory : str, joblib.Memory or None, default=None
        Cache of trained networks, keyed by training data and every
        parameter that changes training, so that a search over ``alpha`` or
        ``contamination`` trains once per training set. The seed is part of
        the key, so caching needs an integer ``random_state``: with
        ``None`` the cache is not used and a warning says so. Processes and
        machines that share the folder (a search on a Dask cluster) train
        each entry once: a file lock per training makes the others wait
        and load it.
    checkpoint_dir : str, path or None, default=None
        Folder where the whole training state (networks, optimizers, random
        generator, epoch, history) is saved after every epoch. ``fit`` with
        the same data and parameters resumes from it after an interruption
        and ends with the same model as an uninterrupted run. A path to a
        file is a ``ValueError``.
    warm_start : bool, default=False
        When true, ``fit`` on the same data after a fit with
        ``warm_start=True`` continues phase 1 from where that fit's phase 1
        ended, up to the new ``n_epochs``, then runs xzx (``xzx_epochs``)
        afresh from there, as scikit-learn's ensembles add trees. With a
        fixed ``entropy_decay`` the result equals one fit with the larger
        ``n_epochs``; with ``"auto"`` the bandit steps still to run follow
        the schedule planned for the new length, from the step reached.
        Only ``n_epochs`` and ``xzx_epochs`` (and the scoring-time
        parameters) may change; other data or training parameters are a
        ``ValueError``. The fitted detector keeps the training state at the
        end of phase 1 (networks and optimizer moments) to continue from.
    random_state : int, RandomState instance or None, default=None
        Seed of the weights, batches and sampling. No global random state is
        used or changed.
    verbose : int, default=0
        0 silent, 1 a progress bar per phase, 2 one line per epoch.

    Attributes
    ----------
    networks_ : DAnoGANNetworks
        The trained torch networks (eval mode), on ``device_``.
    network_spec_ : NetworkSpec
        Their architecture.
    history_ : dict of ndarray
        Per-epoch record of training: losses, Wasserstein estimate, gradient
        penalty, bandit probabilities per generator (n_epochs, n_generators),
        reconstruction error of training samples, xzx loss.
    image_shape_ : tuple of int or None
        ``(C, H, W)`` the networks work on, or ``None`` for feature vectors.
    data_min_, data_range_ : ndarray
        The scaling learned in ``fit`` that maps the training data onto the
        generators' [-1, 1] range (one value for images, one per feature
        for feature vectors).
    device_ : str
        Device the networks live on.
    memory_bank_ : MemoryBank or None
        Critic features of up to ``memory_bank_size`` training samples
        (:class:`danogan_sk.memory_bank.MemoryBank`), on ``device_``.
    latent_bank_ : MemoryBank or None
        Latent codes ``E_k(x)`` of the same training samples, grouped by
        their cluster ``k``, on ``device_`` (``latent_dim`` float32 values
        per sample).
    patch_weight_ : float
        The patch weight of the fit: ``patch_weight`` as given, or the
        choice of ``"auto"``, which the score uses while ``patch_weight`` is
        ``"auto"`` (taking it from ``neighbor_weight``).
    pseudo_anomaly_aucs_ : ndarray of shape (2,) or None
        With ``patch_weight="auto"``, the mean pseudo-anomaly AUC of
        ``patch_weight=0`` and of the split that ``fit`` compared; ``None``
        when there was nothing to compare.
    offset_ : float
        ``decision_function = score_samples - offset_``: the ``contamination``
        percentile of the training scores at the current score settings.
    n_features_in_ : int
        Number of values per sample.
    feature_names_in_ : ndarray of str
        Names of features seen in ``fit``, when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from danogan_sk import DAnoGANDetector
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> det = DAnoGANDetector(n_generators=2, n_epochs=2, xzx_epochs=1,
    ...                       random_state=0).fit(X)
    >>> det.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = parameter_constraints()

    def __init__(self, **params) -> None:
        # Keyword-only, one attribute per parameter, as scikit-learn requires;
        # the names and defaults are config.py's (see __signature__ below).
        unknown = sorted(set(params) - set(_DEFAULTS))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword arguments {unknown}.")
        for name, default in _DEFAULTS.items():
            setattr(self, name, params.get(name, default))

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None) -> "DAnoGANDetector":
        """Train the networks on normal data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) or (n_samples, C, H, W)
            Normal training data. Two samples at least.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : DAnoGANDetector
            The fitted detector.

        Notes
        -----
        Under an initialised ``torch.distributed`` group (``torchrun``), every
        process must call ``fit`` with the same ``X``; each trains on its
        share of every batch (``batch_size`` is the whole batch, a multiple of
        the number of processes) and all end with the same detector, the one
        a single process fits up to float rounding. See the "Scaling out"
        page of the documentation.

        Examples
        --------
        >>> import numpy as np
        >>> from danogan_sk import DAnoGANDetector
        >>> X = np.random.default_rng(0).normal(size=(100, 3))
        >>> det = DAnoGANDetector(n_generators=2, n_epochs=1, xzx_epochs=0,
        ...                       random_state=0).fit(X)
        >>> det.n_features_in_, det.history_["critic_loss"].shape
        (3, (1,))
        """
        X = nested_images(X)
        self.image_shape_ = self._resolve_image_shape(X)
        X = self._validate_rows(X, reset=True)
        self._check_bank_size(len(X))
        # Before training, which a score the settings cannot give would waste.
        self._check_score_settings(has_bank=self.memory_bank_size > 0)
        device = resolve_device(self.device)
        self.data_min_, self.data_range_ = learn_scaling(X, per_feature=self.image_shape_ is None)
        input_shape = self.image_shape_ or (X.shape[1],)
        params = self.get_params(deep=False)
        network = asdict(from_params(NetworkConfig, params))
        self.network_spec_ = NetworkSpec(input_shape=tuple(int(s) for s in input_shape), **network)
        config = from_params(TrainingConfig, params)
        initial_state = self._state_to_continue()
        if initial_state is None:
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            train = self._cached(fit_networks)
        else:
            seed, train = initial_state["seed"], fit_networks
        result: TrainingResult = train(
            self._to_network_input(X),
            self.network_spec_,
            config,
            seed,
            str(device),
            self.verbose,
            _checkpoint_file(self.checkpoint_dir),
            initial_state=initial_state,
            keep_phase1_state=bool(self.warm_start),
        )
        self._phase1_state = result.phase1_state
        self.device_ = str(device)
        self.networks_ = load_networks(self.network_spec_, result.state_dict, device)
        self.history_ = result.history
        self._fit_scoring(X, result.critic_snapshots, seed, device)
        return self

    def _state_to_continue(self) -> dict | None:
        """With ``warm_start``, the training state the last fit kept; else ``None``."""
        if not self.warm_start or not hasattr(self, "networks_"):
            return None
        state = getattr(self, "_phase1_state", None)
        if state is None:
            warnings.warn(
                "warm_start=True, but the last fit kept no training state to continue from "
                "(it ran with warm_start=False); training starts over.",
                UserWarning,
                stacklevel=3,
            )
        return state

    def _cached(self, train):
        """``train`` through ``memory``; uncached, with a warning, when no fit could reuse it.

        Concurrent fits of the same training in processes that share the
        cache folder train once: the others wait and load the result.

        The seed is part of the cache key, and ``random_state=None`` draws a
        new one at every fit.
        """
        if self.memory is not None and self.random_state is None:
            warnings.warn(
                "memory is not used with random_state=None: every fit draws a new seed, "
                "so no cached training could be reused. Pass an integer random_state "
                "to cache trained networks.",
                UserWarning,
                stacklevel=3,
            )
            return train
        memory = check_memory(self.memory)
        ignore = ["verbose", "checkpoint"]
        cached = memory.cache(train, ignore=ignore)
        if memory.location is None:
            return cached
        # Fits that share the cache folder (GridSearchCV folds on several
        # workers) wait for one another instead of training the same networks twice.
        return locked(cached, memory.location, ignore)


def _checkpoint_file(checkpoint_dir) -> Path | None:
    """The checkpoint file in ``checkpoint_dir``; a clear error when a file stands in its way."""
    if checkpoint_dir is None:
        return None
    folder = Path(checkpoint_dir)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ValueError(
            f"checkpoint_dir={str(checkpoint_dir)!r} must be a folder, but {str(existing)!r} is a file."
        )
    return folder / _CHECKPOINT_FILE


# scikit-learn's get_params and PyOD's read the parameter names from the signature.
DAnoGANDetector.__init__.__signature__ = keyword_signature()
