"""Front ends that make images of round parts comparable whatever their angle and place.

A detector in a :class:`~sklearn.pipeline.Pipeline` after
:class:`PolarSpectrum` sees the same rows for a part and the part rotated,
nearly the same for the part shifted or resized a little, and the same for
any gain and offset of the camera: the spread of a rotated inspection
camera (``make_wheels(variation="inspection")``) then no longer hides the
defects from a nearest-neighbour distance.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from .inputs import _reject_channels_last, nested_images
from .scoring import in_chunks

__all__ = ["PolarSpectrum"]

# Images transformed at a time: bounds the sampled rings' memory.
_CHUNK = 256
# Magnitudes below this (on images of standard deviation 1) are float32 rounding.
_ROUNDING_FLOOR = 1e-5


class PolarSpectrum(TransformerMixin, BaseEstimator):
    """Rotation-invariant rows of images: angular Fourier magnitudes on rings about the part.

    Each image (each channel) is sampled on ``n_radii`` rings about the
    part's centre, ``n_angles`` points each (bilinear; a point beyond the
    frame takes the nearest edge pixel's value); the samples are
    standardised to mean 0 and standard deviation 1 over all rings, which
    removes a camera's gain and offset and, with rings that grow with the
    part, its size; and every ring is replaced by the magnitudes of its discrete
    Fourier transform along the angle, harmonics ``0 .. n_harmonics - 1``,
    divided by ``n_angles`` (below 1e-5, float rounding, set to 0) and
    compressed by ``log1p``. Rotating the part about its centre shifts each
    ring along the angle, which leaves the magnitudes unchanged; the
    relative angle of different rings (where the bolt holes sit against the
    spokes) is given up with it.

    By default the rings follow the part in the frame: they are centred on
    its foreground (the pixels that differ from the image border's median
    by more than ``foreground_threshold`` of the way to the image's 95th
    percentile, or its 5th for a part darker than the background), and
    their radii grow with the foreground's root-mean-square radius,
    relative to the median of the training images. A part a pixel off
    centre, or a few percent larger, then puts the same structure on the
    same ring; about a fixed centre, an offset of a pixel spreads every
    ring's energy over the low harmonics, where small defects show.

    Parameters
    ----------
    n_radii : int, default=30
        Rings, evenly spaced from 2 % to 98 % of half the image's width (and
        height: on a non-square image the rings are ellipses), for a part of
        the training images' median size.
    n_angles : int, default=128
        Samples per ring.
    n_harmonics : int, default=33
        Fourier magnitudes kept per ring, from the mean (harmonic 0) up; at
        most ``n_angles // 2 + 1``.
    center : {"foreground", "image"}, default="foreground"
        Centre of the rings: the centroid of each image's foreground (the
        image centre where an image has none, such as a constant one), or
        the image centre.
    radius : {"foreground", "image"}, default="foreground"
        Size of the rings: scaled by each image's foreground root-mean-square
        radius over ``reference_radius_``, or fixed fractions of the image.
    foreground_threshold : float in (0, 1), default=0.3
        Where the foreground starts, as a fraction of the way from the
        border's median to the image's 95th (or 5th) percentile.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` or ``(C, H, W)`` of the images when ``X`` is given as 2-D
        rows; image arrays ``(n, H, W)`` and ``(n, C, H, W)`` carry their own
        shape.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(C, H, W)`` of the images seen in ``fit``.
    n_features_in_ : int
        Values per image seen in ``fit``.
    n_features_out_ : int
        ``C * n_radii * n_harmonics``.
    reference_radius_ : float
        Median foreground root-mean-square radius of the training images, in
        half image widths (with ``radius="foreground"``; otherwise 1).

    Examples
    --------
    A wheel and the same wheel turned by a quarter give the same row:

    >>> import numpy as np
    >>> from danogan_sk.datasets import make_wheels
    >>> from danogan_sk.preprocessing import PolarSpectrum
    >>> X, _ = make_wheels(2, image_size=32, random_state=0)
    >>> spectrum = PolarSpectrum().fit(X)
    >>> rows = spectrum.transform(np.stack([X[0], np.rot90(X[0])]))
    >>> rows.shape, bool(np.allclose(rows[0], rows[1], atol=1e-5))
    ((2, 990), True)

    In front of a detector:

    >>> from sklearn.pipeline import make_pipeline
    >>> from danogan_sk import DAnoGANDetector
    >>> detector = make_pipeline(PolarSpectrum(), DAnoGANDetector())
    """

    _parameter_constraints: dict = {
        "n_radii": [Interval(Integral, 1, None, closed="left")],
        "n_angles": [Interval(Integral, 2, None, closed="left")],
        "n_harmonics": [Interval(Integral, 1, None, closed="left")],
        "center": [StrOptions({"foreground", "image"})],
        "radius": [StrOptions({"foreground", "image"})],
        "foreground_threshold": [Interval(Real, 0, 1, closed="neither")],
        "image_shape": [tuple, None],
    }

    def __init__(self, n_radii: int = 30, n_angles: int = 128, n_harmonics: int = 33,
                 center: str = "foreground", radius: str = "foreground", foreground_threshold: float = 0.3,
                 image_shape: tuple | None = None) -> None:
        self.n_radii = n_radii
        self.n_angles = n_angles
        self.n_harmonics = n_harmonics
        self.center = center
        self.radius = radius
        self.foreground_threshold = foreground_threshold
        self.image_shape = image_shape

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None) -> "PolarSpectrum":
        """Record the images' shape and, with ``radius="foreground"``, the parts' median size.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W), (n_samples, C, H, W) or (n_samples, n_features)
            Images; 2-D rows need ``image_shape``.
        y : ignored

        Returns
        -------
        self : PolarSpectrum
        """
        if self.n_harmonics > self.n_angles // 2 + 1:
            raise ValueError(f"n_harmonics={self.n_harmonics} is more than a ring of n_angles={self.n_angles} "
                             f"samples has (n_angles // 2 + 1 = {self.n_angles // 2 + 1})")
        images = self._images(X, fitting=True)
        self.image_shape_ = tuple(images.shape[1:])
        self.n_features_in_ = int(np.prod(self.image_shape_))
        self.n_features_out_ = self.image_shape_[0] * self.n_radii * self.n_harmonics
        self.reference_radius_ = 1.0
        if self.radius == "foreground":
            radii = torch.cat(list(in_chunks(lambda chunk: self._foreground(chunk)[1], images, _CHUNK,
                                             torch.from_numpy)))
            found = radii[torch.isfinite(radii)]
            self.reference_radius_ = float(found.median()) if len(found) else 1.0
        return self

    def transform(self, X) -> np.ndarray:
        """Rotation-invariant rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W), (n_samples, C, H, W) or (n_samples, n_features)
            Images of the shape seen in ``fit``.

        Returns
        -------
        rows : ndarray of shape (n_samples, ``n_features_out_``), float32
        """
        check_is_fitted(self)
        images = self._images(X, fitting=False)
        rings = self._ring_grid()
        rows = list(in_chunks(lambda chunk: self._spectrum(chunk, rings), images, _CHUNK, torch.from_numpy))
        return torch.cat(rows).numpy() if rows else np.empty((0, self.n_features_out_), np.float32)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """``c{channel}_r{ring}_h{harmonic}`` for every output column."""
        check_is_fitted(self)
        return np.asarray([f"c{c}_r{r}_h{h}" for c in range(self.image_shape_[0])
                           for r in range(self.n_radii) for h in range(self.n_harmonics)], dtype=object)

    def _images(self, X, fitting: bool) -> np.ndarray:
        """``X`` as a contiguous float32 ``(n, C, H, W)`` array; ``X`` itself is never written to."""
        # scikit-learn's checks name sparse, complex, non-numeric, empty and non-finite input.
        X = check_array(nested_images(X), allow_nd=True, dtype=np.float32, order="C", input_name="X",
                        ensure_min_samples=1 if fitting else 0)
        if X.ndim > 2:
            _reject_channels_last(X)  # as the detector refuses them, with the np.moveaxis call that fixes it
        if X.ndim == 2:
            X = self._rows_as_images(X)
        if X.ndim == 3:
            X = X[:, None]
        if X.ndim != 4:
            raise ValueError(f"expected images of shape (n, H, W) or (n, C, H, W), got an array of shape {X.shape}")
        if 0 in X.shape[1:]:
            raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required: "
                             "images need at least one pixel")
        if not fitting and tuple(X.shape[1:]) != self.image_shape_:
            raise ValueError(f"X has {int(np.prod(X.shape[1:]))} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input: images of shape {tuple(X.shape[1:])}, "
                             f"fitted on {self.image_shape_}")
        return X

    def _rows_as_images(self, X: np.ndarray) -> np.ndarray:
        """2-D rows as ``image_shape`` images."""
        if self.image_shape is None:
            raise ValueError("PolarSpectrum needs images: pass X of shape (n, H, W) or (n, C, H, W), "
                             "or 2-D rows with image_shape=(H, W) or (C, H, W)")
        shape = tuple(self.image_shape)
        if len(shape) not in (2, 3) or int(np.prod(shape)) != X.shape[1]:
            raise ValueError(f"image_shape={shape} does not hold the {X.shape[1]} values of a row")
        return X.reshape(len(X), *shape)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # rows are float32 whatever the input
        return tags

    def _ring_grid(self) -> torch.Tensor:
        """Sampling points ``(n_radii, n_angles, 2)`` in ``grid_sample``'s [-1, 1] coordinates."""
        radii = torch.linspace(0.02, 0.98, self.n_radii)
        angles = torch.arange(self.n_angles) * (2 * np.pi / self.n_angles)
        return torch.stack([radii[:, None] * torch.cos(angles), radii[:, None] * torch.sin(angles)], -1)

    def _foreground(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Centroid ``(n, 2)`` and root-mean-square radius ``(n,)`` of each image's foreground.

        In ``grid_sample``'s [-1, 1] coordinates, from the channels' mean;
        NaN where an image has no foreground.
        """
        gray = images.mean(1)
        n, height, width = gray.shape
        border = torch.cat([gray[:, 0], gray[:, -1], gray[:, 1:-1, 0], gray[:, 1:-1, -1]], 1)
        background = border.median(1).values[:, None, None]
        low, high = torch.quantile(gray.reshape(n, -1), torch.tensor([0.05, 0.95]), dim=1)[..., None, None]
        # The percentile farther from the background is the part's side: bright or dark parts.
        extreme = torch.where((high - background).abs() >= (low - background).abs(), high, low)
        contrast = extreme - background
        mask = ((gray - background) * contrast.sign() > self.foreground_threshold * contrast.abs()).float()
        area = mask.sum((1, 2))
        ys = (torch.arange(height) + 0.5) * (2 / height) - 1  # pixel centres, align_corners=False
        xs = (torch.arange(width) + 0.5) * (2 / width) - 1
        cx = (mask * xs).sum((1, 2)) / area
        cy = (mask * ys[:, None]).sum((1, 2)) / area
        squared = (xs - cx[:, None, None]) ** 2 + (ys[:, None] - cy[:, None, None]) ** 2
        rms = ((mask * squared).sum((1, 2)) / area).sqrt()
        return torch.stack([cx, cy], 1), rms

    def _grids(self, images: torch.Tensor, rings: torch.Tensor) -> torch.Tensor:
        """Each image's sampling points ``(n, n_radii, n_angles, 2)``: ``rings`` moved onto its part."""
        n = len(images)
        if self.center == "image" and self.radius == "image":
            return rings[None].expand(n, -1, -1, -1)
        center, rms = self._foreground(images)
        center = torch.nan_to_num(center, nan=0.0) if self.center == "foreground" else torch.zeros(n, 2)
        size = torch.nan_to_num(rms / self.reference_radius_, nan=1.0) if self.radius == "foreground" else torch.ones(n)
        return center[:, None, None] + size[:, None, None, None] * rings

    def _spectrum(self, images: torch.Tensor, rings: torch.Tensor) -> torch.Tensor:
        n, channels = images.shape[:2]
        rings = F.grid_sample(images, self._grids(images, rings), padding_mode="border", align_corners=False)
        flat = rings.reshape(n, channels, -1)
        mean = flat.mean(2)[..., None, None]
        std = flat.std(2, unbiased=False).clamp_min(1e-6)[..., None, None]
        rings = (rings - mean) / std
        magnitude = torch.fft.rfft(rings, dim=3).abs()[..., : self.n_harmonics] / self.n_angles
        # Rounding noise (a ring too small to vary has harmonics of ~1e-8) becomes an exact 0,
        # so that a per-feature scaling downstream cannot blow it up into a feature.
        magnitude = torch.where(magnitude < _ROUNDING_FLOOR, 0.0, magnitude)
        return torch.log1p(magnitude).reshape(n, -1)
