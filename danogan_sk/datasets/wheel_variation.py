"""Nuisance variation of Wheel images: what an inspection camera adds to a wheel design.

A :class:`Variation` describes how far each nuisance may go: the wheel's
rotation, its position and size in the frame, an illumination gradient,
brightness and contrast of the sensor, its noise, and the lens blur. The same
variation is applied to every manifold of a data set, drawn from unit-scale
random numbers that do not depend on the design, so that a normal wheel and
its faulty twin with the same seed see exactly the same camera, and only the
defect tells them apart.

Two presets are named in :data:`VARIATIONS`: ``"thesis"`` (no variation: the
images of the D-AnoGAN thesis) and ``"inspection"`` (a production-line
camera). Rotation and scale change the rendered geometry; the rest is applied
to the rendered image by :func:`apply_nuisance`, in the order light meets the
camera: shift in the frame, lens blur, illumination, sensor gain and offset,
sensor noise, clipping to [0, 1].
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Dict, Mapping, Tuple, Union

import numpy as np

__all__ = ["Variation", "VARIATIONS", "NUISANCE_KEYS", "resolve_variation",
           "draw_nuisance", "apply_nuisance"]

#: Keys of the nuisance values drawn per image (``make_wheels(return_params=True)``).
NUISANCE_KEYS = (
    "scale", "center_x", "center_y", "illumination", "illumination_angle",
    "brightness", "contrast", "noise", "blur",
)
# One unit variate per nuisance value plus the rotation, drawn whether the
# amount is zero or not: changing one amount leaves every other draw unchanged.
_N_VARIATES = len(NUISANCE_KEYS) + 1


@dataclass(frozen=True)
class Variation:
    """How far each camera nuisance may go; every value is drawn per image.

    Parameters
    ----------
    name : str, default="custom"
        Name of the preset.
    rotation : float in [0, 180], default=0
        Largest extra rotation in degrees, uniform in ``[-rotation,
        rotation]`` and added to the design's own (``WheelSpec.rotation``).
        180 turns the wheel over the whole circle, hence over every symmetry
        of any design.
    translation : float in [0, 0.25], default=0
        Largest offset of the wheel's centre from the image centre along each
        axis, as a fraction of the image width, uniform in ``[-translation,
        translation]``.
    scale : (float, float), default=(1, 1)
        Range of a factor on the rim and hub diameters (the camera's
        distance), uniform; widens the size range beyond ``rim_range``.
    illumination : float in [0, 1), default=0
        Largest strength ``g`` of a linear illumination gradient: the image is
        multiplied by ``1 + g * u``, with ``u`` the pixel's coordinate along a
        direction uniform over the circle (-1 to 1 between opposite edges of
        the image, up to 1.41 in its corners); ``g`` is uniform in
        ``[0, illumination]``.
    brightness : float in [0, 1], default=0
        Largest sensor offset, uniform in ``[-brightness, brightness]``.
    contrast : float in [0, 1), default=0
        Largest relative change of the sensor gain: pixels become
        ``0.5 + c * (x - 0.5)`` with ``c`` uniform in ``[1 - contrast,
        1 + contrast]``.
    noise : float >= 0, default=0
        Largest standard deviation of additive Gaussian sensor noise; each
        image's is uniform in ``[0, noise]``.
    blur : float in [0, 0.05], default=0
        Largest standard deviation of a Gaussian lens blur as a fraction of
        the image width (so that a blur looks the same at every resolution);
        each image's is uniform in ``[0, blur]``.

    Examples
    --------
    >>> from danogan_sk.datasets.wheel_variation import VARIATIONS, Variation
    >>> VARIATIONS["thesis"].is_identity
    True
    >>> Variation(rotation=30.0, noise=0.02).is_identity
    False
    """

    name: str = "custom"
    rotation: float = 0.0
    translation: float = 0.0
    scale: Tuple[float, float] = (1.0, 1.0)
    illumination: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    noise: float = 0.0
    blur: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Variation.name must be a non-empty string, got {self.name!r}")
        _check(self.rotation, "rotation", 0.0, 180.0)
        _check(self.translation, "translation", 0.0, 0.25)
        _check(self.illumination, "illumination", 0.0, 1.0, open_high=True)
        _check(self.brightness, "brightness", 0.0, 1.0)
        _check(self.contrast, "contrast", 0.0, 1.0, open_high=True)
        _check(self.noise, "noise", 0.0, math.inf)
        _check(self.blur, "blur", 0.0, 0.05)
        try:
            lo, hi = (float(v) for v in self.scale)
        except (TypeError, ValueError):
            raise ValueError(
                f"Variation.scale must be a pair (low, high) of numbers, got {self.scale!r}"
            ) from None
        if not 0.0 < lo <= hi <= 2.0:
            raise ValueError(f"Variation.scale must satisfy 0 < low <= high <= 2, got {self.scale!r}")
        object.__setattr__(self, "scale", (lo, hi))

    @property
    def is_identity(self) -> bool:
        """Whether this variation changes nothing (the thesis's images)."""
        return all(
            getattr(self, f.name) == getattr(_IDENTITY, f.name)
            for f in fields(self) if f.name != "name"
        )


def _check(value, field: str, lo: float, hi: float, open_high: bool = False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and lo <= value and (value < hi if open_high else value <= hi)
    if not ok:
        bracket = ")" if open_high else "]"
        raise ValueError(f"Variation.{field} must be a number in [{lo}, {hi}{bracket}, got {value!r}")


_IDENTITY = Variation("identity")

#: Named presets: ``"thesis"`` (none) and ``"inspection"`` (a production-line camera).
VARIATIONS: Mapping[str, Variation] = MappingProxyType({
    "thesis": Variation("thesis"),
    "inspection": Variation(
        "inspection",
        rotation=180.0,
        translation=0.03,
        scale=(0.8, 1.04),
        illumination=0.3,
        brightness=0.06,
        contrast=0.2,
        noise=0.04,
        blur=0.006,
    ),
})


def resolve_variation(variation: Union[str, Variation]) -> Variation:
    """A preset name or a :class:`Variation` -> a :class:`Variation`.

    Raises
    ------
    ValueError
        If ``variation`` is neither a :class:`Variation` nor a preset name.
    """
    if isinstance(variation, Variation):
        return variation
    try:
        return VARIATIONS[variation]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown wheel variation {variation!r}; choose a Variation or one of {list(VARIATIONS)}"
        ) from None


def draw_nuisance(variation: Variation, n: int, rng: np.random.RandomState) -> Dict[str, np.ndarray]:
    """Draw the rotation and every nuisance value of ``n`` images.

    Returns a dict with ``rotation`` (degrees, to add to the design's) and
    the :data:`NUISANCE_KEYS`; angles in degrees, offsets and blur as
    fractions of the image width, ``center_y`` pointing down the rows.
    """
    u = rng.uniform(size=(_N_VARIATES, n))
    sym = 2.0 * u - 1.0  # symmetric unit variates
    v = variation
    lo, hi = v.scale
    return {
        "rotation": v.rotation * sym[0],
        "scale": lo + (hi - lo) * u[1],
        "center_x": v.translation * sym[2],
        "center_y": v.translation * sym[3],
        "illumination": v.illumination * u[4],
        "illumination_angle": 360.0 * u[5],
        "brightness": v.brightness * sym[6],
        "contrast": 1.0 + v.contrast * sym[7],
        "noise": v.noise * u[8],
        "blur": v.blur * u[9],
    }


def apply_nuisance(
    images: np.ndarray,
    params: Mapping[str, np.ndarray],
    variation: Variation,
    noise_rng: np.random.Generator,
) -> np.ndarray:
    """Apply shift, blur, illumination, gain, offset and noise to rendered images, in place.

    Parameters
    ----------
    images : ndarray of shape (n, size, size), float32
        Rendered wheels (their rotation and scale already applied).
    params : mapping of str to ndarray of shape (n,)
        The images' values from :func:`draw_nuisance`.
    variation : Variation
        Sets the blur kernel's reach (``3 * variation.blur``), the same for
        every batch so that results do not depend on how images are batched.
    noise_rng : numpy.random.Generator
        Source of the sensor noise; one standard normal per pixel is drawn
        whatever the noise level.

    Returns
    -------
    ndarray
        ``images``, modified, clipped to [0, 1].
    """
    size = images.shape[-1]
    col = lambda a: np.asarray(a, dtype=np.float32)[:, None, None]  # noqa: E731
    images[:] = _shift(images, params["center_x"] * size, params["center_y"] * size)
    reach = int(math.ceil(3.0 * variation.blur * size))
    if reach > 0:
        images[:] = _blur(images, params["blur"] * size, reach)
    x = (np.arange(size, dtype=np.float32) + 0.5) * np.float32(2.0 / size) - 1
    angle = np.deg2rad(params["illumination_angle"])
    # Projection of each pixel (y up) on the gradient's direction, in [-1, 1] across the image.
    along = col(np.cos(angle)) * x[None, None, :] - col(np.sin(angle)) * x[None, :, None]
    images *= 1.0 + col(params["illumination"]) * along
    images -= np.float32(0.5)
    images *= col(params["contrast"])
    images += col(0.5 + params["brightness"])
    noise = noise_rng.standard_normal(images.shape, dtype=np.float32)
    noise *= col(params["noise"])
    images += noise
    return np.clip(images, 0.0, 1.0, out=images)


def _shift(images: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Move each image by (dx right, dy down) pixels, bilinear; edge pixels extend outwards."""
    for axis, offset in ((2, dx), (1, dy)):
        size = images.shape[axis]
        source = np.arange(size, dtype=np.float64)[None, :] - np.asarray(offset)[:, None]
        low = np.floor(source)
        weight = (source - low).astype(np.float32)
        low = low.astype(np.intp)
        shape = (len(images), 1, size) if axis == 2 else (len(images), size, 1)
        pick = lambda i: np.take_along_axis(  # noqa: E731
            images, np.clip(i, 0, size - 1).reshape(shape), axis=axis)
        w = weight.reshape(shape)
        images = pick(low) * (1 - w) + pick(low + 1) * w
    return images


def _blur(images: np.ndarray, sigma: np.ndarray, reach: int) -> np.ndarray:
    """Separable Gaussian blur with a per-image ``sigma`` (pixels), ``reach`` taps each side."""
    taps = np.arange(-reach, reach + 1, dtype=np.float64)
    s = np.maximum(np.asarray(sigma, dtype=np.float64), 1e-6)[:, None]  # 0 -> the identity
    kernel = np.exp(-0.5 * (taps[None, :] / s) ** 2)
    kernel = (kernel / kernel.sum(axis=1, keepdims=True)).astype(np.float32)
    n, h, w = images.shape
    for axis in (1, 2):
        pad = [(0, 0), (0, 0), (0, 0)]
        pad[axis] = (reach, reach)
        padded = np.pad(images, pad, mode="edge")
        out = np.zeros_like(images)
        for t in range(2 * reach + 1):
            window = padded[:, t:t + h, :] if axis == 1 else padded[:, :, t:t + w]
            out += kernel[:, t, None, None] * window
        images = out
    return images
