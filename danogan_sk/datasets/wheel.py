"""Simulated automobile wheels: a controlled benchmark of disconnected image manifolds.

Each image is a gray-scale wheel seen face on: a dark background, a bright
wheel disc with a rim, spokes joining the rim to a hub, bolt holes arrayed
around a center axle. A *manifold* is one wheel design, described by a
:class:`WheelSpec`; inside a manifold the rim and hub diameters vary
continuously, so every design is a connected manifold and different designs are
disconnected from each other.

Eight normal manifolds (3 or 5 spokes, closed or forked spokes, 4 or 5 bolt
holes) and two anomalous ones (``low_contrast_fork``: the gap between the
prongs of a forked spoke is shaded gray; ``mixed_bolts``: both bolt patterns on
one hub) reproduce the Wheel data set of the D-AnoGAN thesis (section 5.1.3).
Two subtler defects (``cracked_spoke``, ``missing_bolt_hole``) join them in
the inspection benchmark, whose camera nuisances (rotation, position, scale,
light, noise, blur) are described in :mod:`.wheel_variation`.

Rendering is vectorised over whole batches with signed-distance functions:
every shape is a distance ``d`` (negative inside) in normalised image
coordinates, and its pixel coverage is a linear ramp one pixel wide, which
is the exact box-filter coverage of a straight edge, i.e. anti-aliasing.

Coordinates: the image spans ``[-1, 1]`` on both axes, so a radius in these
units equals a diameter as a fraction of the image width.
"""

from __future__ import annotations

import csv
import numbers
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Iterator, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from sklearn.utils import check_random_state

from .wheel_variation import Variation, apply_nuisance, draw_nuisance, resolve_variation

__all__ = [
    "WheelSpec",
    "NORMAL_MANIFOLDS",
    "ANOMALOUS_MANIFOLDS",
    "ALL_MANIFOLDS",
    "SUBTLE_MANIFOLDS",
    "INSPECTION_ANOMALIES",
    "INSPECTION_MANIFOLDS",
    "MANIFOLDS",
    "get_manifold",
    "base_design",
    "resolve_manifolds",
    "render_wheels",
    "make_wheels",
    "write_wheels",
]

MIN_IMAGE_SIZE = 32
SPOKE_STYLES = ("closed", "forked")
FORMATS = ("png", "npz")
CSV_COLUMNS = ("filename", "label", "manifold", "rim_diameter", "hub_diameter", "rotation")
_GEOMETRY = ("rim_diameter", "hub_diameter", "rotation")

# Gray levels of the parts, in painting order. The window (the opening
# between spokes) is a little lighter than the background so that the wheel
# silhouette stays visible.
_BACKGROUND = 0.04
_WINDOW = 0.16
_SPOKE = 0.78
_RIM = 0.90
_RIM_LIP = 0.62
_HUB = 0.94
_HOLE = 0.10
_AXLE_BORE = 0.08
_AXLE_CAP = 0.55

# Proportions relative to the rim radius R or the hub radius h.
_RIM_THICKNESS = 0.12  # of R: the rim ring spans [(1 - t) R, R]
_LIP_POSITION = 0.35  # of the rim thickness, measured inwards from R
_LIP_HALF_WIDTH = 0.012  # of R
_SPOKE_TAPER = 0.5  # spoke width at the hub / spoke width at the rim
_MAX_HUB_TO_RIM = 0.75  # largest hub radius / smallest rim radius allowed
_BOLT_CIRCLE = 0.62  # of h, for a single bolt pattern
_BOLT_CIRCLES = (0.47, 0.76)  # of h, innermost and outermost circle of several patterns
_HOLE_RADIUS = 0.11  # of h
_BORE_RADIUS = 0.26  # of h
_CAP_RADIUS = 0.15  # of h

# Pixels per chunk: bounds memory (4 MB per float32 temporary) and keeps
# temporaries cache-friendly; larger chunks measured slower.
_CHUNK_PIXELS = 1 << 20

ManifoldLike = Union[str, "WheelSpec"]
ManifoldsArg = Union[None, str, "WheelSpec", Sequence[ManifoldLike]]
Counts = Union[int, Sequence[int]]


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class WheelSpec:
    """Design of one wheel manifold.

    A new manifold is a new spec: no code is needed. Use
    :func:`dataclasses.replace` to derive one from an existing spec.

    Parameters
    ----------
    name : str
        Name of the manifold (used in file names and ``labels.csv``).
    n_spokes : int
        Number of spokes, at least 2, evenly spaced; the first points up.
    spoke_style : {"closed", "forked"}
        A forked spoke splits into two prongs with a gap between them.
    bolt_patterns : tuple of int
        Bolt hole counts. One pattern puts its holes on one bolt circle;
        several patterns go on concentric circles (a casting fault). May be
        empty (no bolt holes).
    fork_shade : float in [0, 1]
        Shade of the gap of a forked spoke: 0 is as dark as the openings
        between spokes (a proper fork), 1 is as bright as the spoke (the
        spoke looks closed). Ignored for closed spokes.
    rim_range : (float, float)
        Range of the rim (outer wheel) diameter as a fraction of the image
        width, drawn uniformly. At most 1.
    hub_range : (float, float)
        Range of the hub diameter as a fraction of the image width, drawn
        uniformly; its upper end must stay below 0.75 times the lower end of
        ``rim_range`` so the spokes stay visible.
    rotation : float
        Largest rotation of the whole wheel in degrees; each wheel is rotated
        by an angle drawn uniformly in ``[-rotation, rotation]``. 0 keeps the
        first spoke pointing up.
    noise : float
        Standard deviation of additive Gaussian pixel noise (before clipping
        to [0, 1]).
    spoke_width : float
        Width of a spoke where it meets the rim, as a fraction of the rim
        radius; spokes taper to half this width at the hub.
    fork_gap : float in (0, 1)
        Width of the fork gap at the rim as a fraction of the spoke width.
    fork_start : float in [0, 1)
        Where the fork starts, as a fraction of the way from hub to rim.
    crack_width : float in [0, 0.5], default=0
        Width of a crack across the first spoke, as a fraction of the rim
        radius: a dark line, perpendicular to the spoke, cut right through
        it. 0 is no crack.
    crack_position : float in (0, 1), default=0.5
        Where the crack crosses the spoke, as a fraction of the way from hub
        to rim.
    missing_holes : int, default=0
        Holes of the first bolt pattern left undrilled (a machining fault),
        counted from its first hole; fewer than the pattern has.

    Examples
    --------
    >>> import dataclasses
    >>> from danogan_sk.datasets.wheel import WheelSpec, get_manifold
    >>> seven = WheelSpec("7spoke_forked_5bolt", n_spokes=7, spoke_style="forked",
    ...                   bolt_patterns=(5,))
    >>> seven.n_spokes
    7
    >>> faint = dataclasses.replace(get_manifold("low_contrast_fork"),
    ...                             name="faint_fork", fork_shade=0.25)
    >>> faint.fork_shade
    0.25
    """

    name: str
    n_spokes: int
    spoke_style: str = "closed"
    bolt_patterns: Tuple[int, ...] = (4,)
    fork_shade: float = 0.0
    rim_range: Tuple[float, float] = (0.80, 0.96)
    hub_range: Tuple[float, float] = (0.22, 0.32)
    rotation: float = 0.0
    noise: float = 0.0
    spoke_width: float = 0.22
    fork_gap: float = 0.55
    fork_start: float = 0.35
    crack_width: float = 0.0
    crack_position: float = 0.5
    missing_holes: int = 0

    def __post_init__(self) -> None:
        # Normalise sequences to tuples so specs stay hashable and comparable.
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"WheelSpec.name must be a non-empty string, got {self.name!r}")
        set_("n_spokes", _as_int(self.n_spokes, "WheelSpec.n_spokes", minimum=2))
        if self.spoke_style not in SPOKE_STYLES:
            raise ValueError(
                f"WheelSpec.spoke_style must be one of {SPOKE_STYLES}, got {self.spoke_style!r}"
            )
        set_(
            "bolt_patterns",
            tuple(
                _as_int(k, "WheelSpec.bolt_patterns entry", minimum=1) for k in self.bolt_patterns
            ),
        )
        set_("rim_range", _as_range(self.rim_range, "WheelSpec.rim_range", upper=1.0))
        set_("hub_range", _as_range(self.hub_range, "WheelSpec.hub_range", upper=1.0))
        if self.hub_range[1] > _MAX_HUB_TO_RIM * self.rim_range[0]:
            raise ValueError(
                f"WheelSpec.hub_range upper end {self.hub_range[1]} must be at most "
                f"{_MAX_HUB_TO_RIM} x rim_range lower end ({self.rim_range[0]})"
            )
        _check_interval(self.fork_shade, "WheelSpec.fork_shade", 0.0, 1.0)
        _check_interval(self.rotation, "WheelSpec.rotation", 0.0, 360.0)
        _check_interval(self.noise, "WheelSpec.noise", 0.0, np.inf)
        _check_interval(self.spoke_width, "WheelSpec.spoke_width", 0.0, 1.0, open_low=True)
        _check_interval(
            self.fork_gap, "WheelSpec.fork_gap", 0.0, 1.0, open_low=True, open_high=True
        )
        _check_interval(self.fork_start, "WheelSpec.fork_start", 0.0, 1.0, open_high=True)
        _check_interval(self.crack_width, "WheelSpec.crack_width", 0.0, 0.5)
        _check_interval(self.crack_position, "WheelSpec.crack_position", 0.0, 1.0,
                        open_low=True, open_high=True)
        set_("missing_holes", _as_int(self.missing_holes, "WheelSpec.missing_holes", minimum=0))
        first = self.bolt_patterns[0] if self.bolt_patterns else 0
        if self.missing_holes >= max(first, 1):
            raise ValueError(
                f"WheelSpec.missing_holes ({self.missing_holes}) must be fewer than the holes "
                f"of the first bolt pattern ({first})"
            )


def _as_int(value, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{what} must be at least {minimum}, got {value}")
    return int(value)


def _as_range(value, what: str, upper: float) -> Tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a pair (low, high) of numbers, got {value!r}") from None
    if not 0.0 < lo <= hi <= upper:
        raise ValueError(f"{what} must satisfy 0 < low <= high <= {upper}, got {value!r}")
    return lo, hi


def _check_interval(value, what, lo, hi, open_low=False, open_high=False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        above = value > lo if open_low else value >= lo
        below = value < hi if open_high else value <= hi
        ok = above and below
    if not ok:
        lb, rb = "(" if open_low else "[", ")" if open_high else "]"
        raise ValueError(f"{what} must be a number in {lb}{lo}, {hi}{rb}, got {value!r}")


def _normal_manifolds() -> Tuple[WheelSpec, ...]:
    return tuple(
        WheelSpec(f"{n}spoke_{style}_{bolts}bolt", n, style, (bolts,))
        for n in (3, 5)
        for style in SPOKE_STYLES
        for bolts in (4, 5)
    )


#: The eight normal manifolds: spokes {3, 5} x style {closed, forked} x bolts {4, 5}.
NORMAL_MANIFOLDS: Tuple[WheelSpec, ...] = _normal_manifolds()

#: The two anomalous manifolds. ``low_contrast_fork`` is ``5spoke_forked_5bolt``
#: with a gray fork gap (surface-finish fault); ``mixed_bolts`` is
#: ``3spoke_closed_4bolt`` with the 4- and 5-hole patterns on one hub (casting fault).
ANOMALOUS_MANIFOLDS: Tuple[WheelSpec, ...] = (
    WheelSpec("low_contrast_fork", 5, "forked", (5,), fork_shade=0.5),
    WheelSpec("mixed_bolts", 3, "closed", (4, 5)),
)

#: Normal manifolds followed by anomalous ones (labels 0-7 normal, 8-9 anomalous).
ALL_MANIFOLDS: Tuple[WheelSpec, ...] = NORMAL_MANIFOLDS + ANOMALOUS_MANIFOLDS

#: Two subtle defects of the kind an inspector looks for. ``cracked_spoke`` is
#: ``3spoke_closed_4bolt`` with a thin crack across one spoke; ``missing_bolt_hole``
#: is ``5spoke_closed_4bolt`` with one of its four holes not drilled.
SUBTLE_MANIFOLDS: Tuple[WheelSpec, ...] = (
    WheelSpec("cracked_spoke", 3, "closed", (4,), crack_width=0.05),
    WheelSpec("missing_bolt_hole", 5, "closed", (4,), missing_holes=1),
)

#: The anomalies of the inspection benchmark: the thesis's two, then the subtle two.
INSPECTION_ANOMALIES: Tuple[WheelSpec, ...] = ANOMALOUS_MANIFOLDS + SUBTLE_MANIFOLDS

#: The inspection benchmark's manifolds (labels 0-7 normal, 8-11 anomalous).
INSPECTION_MANIFOLDS: Tuple[WheelSpec, ...] = NORMAL_MANIFOLDS + INSPECTION_ANOMALIES

#: Read-only name -> spec lookup of the built-in manifolds.
MANIFOLDS: Mapping[str, WheelSpec] = MappingProxyType({s.name: s for s in INSPECTION_MANIFOLDS})

_GROUPS = {"normal": NORMAL_MANIFOLDS, "anomalous": ANOMALOUS_MANIFOLDS, "all": ALL_MANIFOLDS,
           "subtle": SUBTLE_MANIFOLDS, "inspection": INSPECTION_MANIFOLDS}


def get_manifold(name: str) -> WheelSpec:
    """Return the built-in manifold called ``name``.

    Parameters
    ----------
    name : str
        One of the keys of :data:`MANIFOLDS`.

    Returns
    -------
    WheelSpec

    Raises
    ------
    ValueError
        If no built-in manifold has that name.

    Examples
    --------
    >>> from danogan_sk.datasets.wheel import get_manifold
    >>> get_manifold("mixed_bolts").bolt_patterns
    (4, 5)
    """
    try:
        return MANIFOLDS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown wheel manifold {name!r}; known manifolds: {', '.join(MANIFOLDS)}"
        ) from None


def base_design(spec: WheelSpec, designs: Sequence[WheelSpec] = NORMAL_MANIFOLDS) -> WheelSpec:
    """The design among ``designs`` that ``spec`` was made from.

    Each built-in anomaly is a normal design with one fault (a crack, a
    missing hole, a grey fork gap, a second bolt circle): the design with the
    same number of spokes, the same spoke style and, as its only bolt
    pattern, ``spec``'s first. Testing an anomaly against the normal images
    of that design alone asks whether a detector sees the fault, not whether
    it tells the designs apart, as benchmarks of one object per category
    (MVTec AD's) do. The base is the design the fault was made on, not
    always the only nearest one: ``low_contrast_fork``'s grey gap lies
    halfway between a forked and a closed spoke, so ``5spoke_closed_5bolt``
    is as near in pixels as its base ``5spoke_forked_5bolt``.

    Parameters
    ----------
    spec : WheelSpec
        Any wheel design (a design of ``designs`` is its own base).
    designs : sequence of WheelSpec, default=NORMAL_MANIFOLDS
        Where to look.

    Returns
    -------
    WheelSpec
        The design of ``designs`` that ``spec`` is, up to its fault.

    Raises
    ------
    ValueError
        If no design of ``designs`` matches, or more than one does.

    Examples
    --------
    >>> from danogan_sk.datasets.wheel import base_design, get_manifold
    >>> base_design(get_manifold("missing_bolt_hole")).name
    '5spoke_closed_4bolt'
    >>> base_design(get_manifold("mixed_bolts")).name
    '3spoke_closed_4bolt'
    """
    first_pattern = spec.bolt_patterns[:1]
    matches = [d for d in designs if (d.n_spokes, d.spoke_style, d.bolt_patterns)
               == (spec.n_spokes, spec.spoke_style, first_pattern)]
    if len(matches) != 1:
        found = ", ".join(d.name for d in matches) or "none"
        raise ValueError(
            f"wheel design {spec.name!r} ({spec.n_spokes} {spec.spoke_style} spokes, bolt patterns "
            f"{spec.bolt_patterns}) needs exactly one base design with {spec.n_spokes} "
            f"{spec.spoke_style} spokes and bolt pattern {first_pattern}; found {found}"
        )
    return matches[0]


def resolve_manifolds(
    manifolds: ManifoldsArg, default: Sequence[WheelSpec] = NORMAL_MANIFOLDS
) -> Tuple[WheelSpec, ...]:
    """Turn names, specs or a group name into a tuple of specs.

    Parameters
    ----------
    manifolds : None, str, WheelSpec or sequence of str / WheelSpec
        ``None`` gives ``default``; ``"normal"``, ``"anomalous"``, ``"all"``,
        ``"subtle"`` and ``"inspection"`` give the built-in groups (see
        :data:`SUBTLE_MANIFOLDS`, :data:`INSPECTION_MANIFOLDS`); any other
        string is one manifold name.
    default : sequence of WheelSpec
        Returned for ``None``.

    Returns
    -------
    tuple of WheelSpec

    Examples
    --------
    >>> from danogan_sk.datasets.wheel import resolve_manifolds
    >>> [s.name for s in resolve_manifolds(["mixed_bolts", "3spoke_closed_4bolt"])]
    ['mixed_bolts', '3spoke_closed_4bolt']
    >>> len(resolve_manifolds("all"))
    10
    """
    if manifolds is None:
        specs = tuple(default)
    elif isinstance(manifolds, WheelSpec):
        specs = (manifolds,)
    elif isinstance(manifolds, str):
        specs = _GROUPS.get(manifolds) or (get_manifold(manifolds),)
    else:
        specs = tuple(m if isinstance(m, WheelSpec) else get_manifold(m) for m in manifolds)
    if not specs:
        raise ValueError("manifolds must name at least one wheel manifold")
    return specs


# ----------------------------------------------------------------------- rendering


@lru_cache(maxsize=8)
def _polar_grid(size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Radius and angle of every pixel center; y points up, angle 0 along +x."""
    c = (np.arange(size, dtype=np.float64) + 0.5) * (2.0 / size) - 1.0
    x, y = c[None, :], -c[:, None]
    r = np.hypot(x, y).astype(np.float32)
    phi = np.arctan2(y, x).astype(np.float32)
    r.setflags(write=False)
    phi.setflags(write=False)
    return r, phi


@lru_cache(maxsize=8)
def _radii(size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Distinct pixel radii and, per pixel, the index of its radius.

    By symmetry a square grid has about 8x fewer distinct radii than pixels,
    so anything that depends on the radius alone is computed on these and
    gathered.
    """
    values, index = np.unique(_polar_grid(size)[0], return_inverse=True)
    values.setflags(write=False)
    index = index.reshape(-1).astype(np.intp)
    index.setflags(write=False)
    return values, index


def _coverage(d: np.ndarray, pixel: float) -> np.ndarray:
    """Pixel coverage of the shape ``d < 0``, in place: a one-pixel linear ramp."""
    d *= np.float32(-1.0 / pixel)
    d += np.float32(0.5)
    return np.clip(d, 0.0, 1.0, out=d)


def _paint(img: np.ndarray, d: np.ndarray, shade: float, pixel: float) -> None:
    """Alpha-blend a flat ``shade`` over ``img`` where ``d < 0`` (consumes ``d``)."""
    cov = _coverage(d, pixel)
    delta = np.float32(shade) - img
    delta *= cov
    img += delta


def _fold(phi: np.ndarray, offset: np.ndarray, k: int) -> np.ndarray:
    """Angle to the nearest of ``k`` evenly spaced directions starting at ``offset``.

    Folding the plane this way draws all spokes (or holes) of a pattern in one
    pass instead of one pass each.
    """
    period = np.float32(2.0 * np.pi / k)
    a = phi - offset
    a += period / 2
    np.mod(a, period, out=a)
    a -= period / 2
    return a


def _center_crop(size: int, radius: float) -> slice:
    """Index range of the pixels within ``radius`` (normalised) of the center, plus margin."""
    half = radius * size / 2.0 + 2.0
    lo = max(0, int(np.floor(size / 2.0 - half)))
    return slice(lo, size - lo)


def _column(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)[:, None, None]


def _draw(
    spec: WheelSpec,
    rim: np.ndarray,
    hub: np.ndarray,
    rotation: np.ndarray,
    size: int,
    noise_rng: Optional[np.random.Generator],
) -> np.ndarray:
    """Render one batch of wheels of one design; geometry arrays are 1-D of equal length."""
    n = rim.shape[0]
    r, phi = _polar_grid(size)
    pixel = 2.0 / size
    R, h = _column(rim), _column(hub)
    # One shared angle field when every wheel has the same rotation (the default):
    # saves the per-sample trigonometry.
    theta_all = np.deg2rad(rotation).astype(np.float32) + np.float32(np.pi / 2)
    theta = theta_all[:1, None, None] if np.all(rotation == rotation[0]) else _column(theta_all)

    # Painter's order: openings, spokes (and fork gaps), then rim and background
    # over them, then hub, bolt holes and axle.
    img = np.full((n, size, size), _WINDOW, dtype=np.float32)
    r_in = R * np.float32(1.0 - _RIM_THICKNESS)
    _draw_spokes(img, spec, r, phi, theta, R, h, r_in, pixel)
    if spec.crack_width > 0:
        _draw_crack(img, spec, r, phi, theta, R, h, r_in, pixel)
    _draw_rim(img, rim, size, pixel)
    # Hub, bolt holes and axle only touch the center: draw them on a crop.
    sl = _center_crop(size, float(hub.max()))
    _draw_hub(img[:, sl, sl], spec, r[sl, sl], phi[sl, sl], theta, h, pixel)

    if spec.noise > 0 and noise_rng is not None:
        img += noise_rng.standard_normal(img.shape, dtype=np.float32) * np.float32(spec.noise)
    return np.clip(img, 0.0, 1.0, out=img)


def _draw_rim(img: np.ndarray, rim: np.ndarray, size: int, pixel: float) -> None:
    """Composite the rim ring, its lip line and the background outside the wheel.

    These depend on the radius alone: build a premultiplied color and alpha per
    distinct radius, then gather them onto the pixels.
    """
    values, index = _radii(size)
    r = values[None, :]
    R = np.asarray(rim, dtype=np.float32)[:, None]
    color = np.zeros((R.shape[0], r.shape[1]), dtype=np.float32)
    alpha = np.zeros_like(color)
    lip = R * np.float32(1.0 - _LIP_POSITION * _RIM_THICKNESS)
    layers = (
        (R * np.float32(1.0 - _RIM_THICKNESS) - r, _RIM),  # everything beyond the rim's inner edge
        (np.abs(r - lip) - R * np.float32(_LIP_HALF_WIDTH), _RIM_LIP),
        (R - r, _BACKGROUND),  # everything beyond the wheel
    )
    for d, shade in layers:
        cov = _coverage(d, pixel)
        color += (np.float32(shade) - color) * cov
        alpha += (1 - alpha) * cov
    flat = img.reshape(img.shape[0], -1)
    flat *= np.take(1 - alpha, index, axis=1)
    flat += np.take(color, index, axis=1)


def _draw_spokes(img, spec, r, phi, theta, R, h, r_in, pixel) -> None:
    """Tapered spokes from hub to rim, and the fork gaps if the spokes are forked.

    Both run on past the rim; the rim and background are painted over them.
    """
    v = np.abs(np.sin(_fold(phi, theta, spec.n_spokes)))
    v *= r  # distance from the nearest spoke axis
    hw_rim = R * np.float32(spec.spoke_width / 2)
    hw_hub = hw_rim * np.float32(_SPOKE_TAPER)
    slope = (hw_rim - hw_hub) / (r_in - h)
    # Half width at radius r is slope * r + (hw_hub - slope * h).
    _paint_wedge(img, v, r, slope, hw_hub - slope * h, _SPOKE, pixel)

    if spec.spoke_style != "forked":
        return
    # The gap is a wedge along the spoke axis, closed at the fork start and
    # widest at the rim; a negative width before the fork start keeps it empty there.
    start = h + np.float32(spec.fork_start) * (r_in - h)
    g_slope = hw_rim * np.float32(spec.fork_gap) / (r_in - start)
    shade = _WINDOW + spec.fork_shade * (_SPOKE - _WINDOW)
    _paint_wedge(img, v, r, g_slope, -g_slope * start, shade, pixel)


def _draw_crack(img, spec, r, phi, theta, R, h, r_in, pixel) -> None:
    """A dark line across the first spoke, perpendicular to it, a pixel past both edges."""
    a = phi - theta
    along, across = r * np.cos(a), np.abs(r * np.sin(a))
    t = np.float32(spec.crack_position)
    at = h + t * (r_in - h)
    half_width = R * np.float32(spec.spoke_width / 2) * (_SPOKE_TAPER + (1 - _SPOKE_TAPER) * t)
    d = np.maximum(np.abs(along - at) - R * np.float32(spec.crack_width / 2),
                   across - (half_width + np.float32(pixel)))
    _paint(img, d, _WINDOW, pixel)


def _paint_wedge(img, v, r, slope, offset, shade, pixel) -> None:
    """Paint ``v < slope * r + offset`` (a straight-sided wedge along an axis).

    Same as ``_paint(img, v - (slope * r + offset), ...)`` with the ramp
    folded into the coefficients: fewer passes over the batch, the hot spot.
    """
    scale = np.float32(1.0 / pixel)
    cov = r * (slope * scale)
    cov += offset * scale + np.float32(0.5)
    cov -= v * scale
    np.clip(cov, 0.0, 1.0, out=cov)
    delta = np.float32(shade) - img
    delta *= cov
    img += delta


def _draw_hub(img, spec, r, phi, theta, h, pixel) -> None:
    """Hub disc, bolt holes on their bolt circles, and the axle (bore and cap)."""
    _paint(img, r - h, _HUB, pixel)
    m = len(spec.bolt_patterns)
    circles = [_BOLT_CIRCLE] if m == 1 else np.linspace(*_BOLT_CIRCLES, m)
    hole = h * np.float32(_HOLE_RADIUS)
    for i, (k, circle) in enumerate(zip(spec.bolt_patterns, circles)):
        # Holes sit between the pattern's own spoke-like directions so that a
        # pattern with as many holes as spokes has its holes between spokes.
        first = theta + np.float32(np.pi / k)
        a = _fold(phi, first, k)
        d = np.hypot(r * np.cos(a) - h * np.float32(circle), r * np.sin(a))
        d -= hole
        if i == 0 and spec.missing_holes:
            # Index of the nearest hole direction; the first ``missing_holes`` are not drilled.
            j = np.mod(np.rint((phi - first - a) * np.float32(k / (2 * np.pi))), k)
            d = np.where(j < spec.missing_holes, np.float32(1.0), d)
        _paint(img, d, _HOLE, pixel)
    _paint(img, r - h * np.float32(_BORE_RADIUS), _AXLE_BORE, pixel)
    _paint(img, r - h * np.float32(_CAP_RADIUS), _AXLE_CAP, pixel)


def _check_image_size(image_size) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral):
        raise ValueError(f"image_size must be an integer, got {image_size!r}")
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE} pixels, got {image_size}")
    return int(image_size)


def _chunk_size(image_size: int) -> int:
    return max(1, _CHUNK_PIXELS // (image_size * image_size))


def render_wheels(
    spec: ManifoldLike,
    rim_diameter,
    hub_diameter,
    rotation=0.0,
    *,
    image_size: int = 256,
    random_state=None,
) -> np.ndarray:
    """Render wheels of one design with explicit geometry.

    This is the deterministic core of :func:`make_wheels`: with the same
    geometry, two specs give images that differ only where their designs
    differ.

    Parameters
    ----------
    spec : WheelSpec or str
        The wheel design (its ranges and ``rotation`` are ignored here).
    rim_diameter : float or array-like of shape (n,)
        Rim diameter of each wheel as a fraction of the image width, at most 1.
    hub_diameter : float or array-like of shape (n,)
        Hub diameter of each wheel as a fraction of the image width; at most
        0.75 times the rim diameter.
    rotation : float or array-like of shape (n,), default=0
        Counter-clockwise rotation of each wheel in degrees.
    image_size : int, default=256
        Height and width in pixels, at least 32.
    random_state : int, RandomState instance or None, default=None
        Only used for pixel noise when ``spec.noise > 0``.

    Returns
    -------
    X : ndarray of shape (n, image_size, image_size), dtype float32
        Images with values in [0, 1].

    Examples
    --------
    >>> from danogan_sk.datasets.wheel import render_wheels
    >>> X = render_wheels("3spoke_forked_4bolt", [0.8, 0.9], [0.25, 0.3], image_size=64)
    >>> X.shape, X.dtype
    ((2, 64, 64), dtype('float32'))
    """
    spec = spec if isinstance(spec, WheelSpec) else get_manifold(spec)
    size = _check_image_size(image_size)
    arrays = (np.atleast_1d(np.asarray(a, dtype=np.float64))
              for a in (rim_diameter, hub_diameter, rotation))
    rim, hub, rot = np.broadcast_arrays(*arrays)
    if rim.ndim != 1:
        raise ValueError("rim_diameter, hub_diameter and rotation must be scalars or 1-D arrays")
    if not np.all(np.isfinite(rim) & np.isfinite(hub) & np.isfinite(rot)):
        raise ValueError("rim_diameter, hub_diameter and rotation must be finite")
    if np.any(rim <= 0) or np.any(rim > 1):
        raise ValueError("rim_diameter must lie in (0, 1] (a fraction of the image width)")
    if np.any(hub <= 0) or np.any(hub > _MAX_HUB_TO_RIM * rim):
        raise ValueError(f"hub_diameter must lie in (0, {_MAX_HUB_TO_RIM} x rim_diameter]")
    noise_rng = None
    if spec.noise > 0:
        noise_rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    step = _chunk_size(size)
    out = np.empty((rim.shape[0], size, size), dtype=np.float32)
    for i in range(0, rim.shape[0], step):
        j = slice(i, i + step)
        out[j] = _draw(spec, rim[j], hub[j], rot[j], size, noise_rng)
    return out


# ---------------------------------------------------------------------- generation


def _resolve_counts(n_samples: Counts, n_manifolds: int, what: str = "n_samples") -> np.ndarray:
    """Per-manifold counts from a total (split evenly) or a per-manifold sequence."""
    if isinstance(n_samples, numbers.Integral) and not isinstance(n_samples, bool):
        if n_samples < 1:
            raise ValueError(f"{what} must be a positive integer, got {n_samples}")
        counts = np.full(n_manifolds, n_samples // n_manifolds, dtype=np.int64)
        counts[: n_samples % n_manifolds] += 1  # the first manifolds take the remainder
        return counts
    if isinstance(n_samples, (str, bytes)) or not hasattr(n_samples, "__len__"):
        raise ValueError(f"{what} must be an integer or a sequence of integers, got {n_samples!r}")
    if len(n_samples) != n_manifolds:
        raise ValueError(
            f"{what} has {len(n_samples)} per-manifold counts but there are {n_manifolds} manifolds"
        )
    counts = [_as_int(c, f"each count in {what}", minimum=0) for c in n_samples]
    if sum(counts) < 1:
        raise ValueError(f"{what} must ask for at least one image in total, got {list(n_samples)}")
    return np.asarray(counts, dtype=np.int64)


def _draw_geometry(specs, counts, rng, variation: Variation) -> Tuple[dict, np.ndarray]:
    """Draw rim, hub and rotation of every wheel, plus one noise seed per manifold.

    Every draw is unconditional and uses unit-scale variates, so two manifold
    lists with equal counts and equal ranges get identical geometry: swapping a
    spec for a faulty variant changes the design only. A variation other than
    the identity adds its nuisance values (drawn the same way for every
    design); the identity draws nothing more, which keeps the thesis's
    images as they always were.
    """
    parts = {key: [] for key in _GEOMETRY}
    seeds = np.empty(len(specs), dtype=np.int64)
    for i, (spec, n) in enumerate(zip(specs, counts)):
        u = rng.uniform(size=(3, n))
        (rim_lo, rim_hi), (hub_lo, hub_hi) = spec.rim_range, spec.hub_range
        parts["rim_diameter"].append(rim_lo + (rim_hi - rim_lo) * u[0])
        parts["hub_diameter"].append(hub_lo + (hub_hi - hub_lo) * u[1])
        rotation = spec.rotation * (2.0 * u[2] - 1.0)
        seeds[i] = rng.randint(2**31 - 1)
        if not variation.is_identity:
            nuisance = draw_nuisance(variation, n, rng)
            rotation = rotation + nuisance.pop("rotation")
            for key, values in nuisance.items():
                parts.setdefault(key, []).append(values)
        parts["rotation"].append(rotation)
    return {k: np.concatenate(v) for k, v in parts.items()}, seeds


def _iter_chunks(specs, counts, params, seeds, size,
                 variation: Variation) -> Iterator[Tuple[slice, np.ndarray]]:
    """Yield (index range, images) in manifold order, a bounded chunk at a time."""
    step = _chunk_size(size)
    start = 0
    scale = params.get("scale")
    for spec, n, seed in zip(specs, counts, seeds):
        noise_rng = np.random.default_rng(seed)
        # A separate stream for the camera's noise: the design's own noise
        # (spec.noise) keeps its stream, chunk after chunk.
        sensor_rng = np.random.default_rng([seed, 1])
        for i in range(start, start + n, step):
            j = slice(i, min(i + step, start + n))
            rim, hub, rotation = (params[k][j] for k in _GEOMETRY)
            if scale is not None:
                rim, hub = rim * scale[j], hub * scale[j]
            images = _draw(spec, rim, hub, rotation, size, noise_rng)
            if not variation.is_identity:
                images = apply_nuisance(images, {k: v[j] for k, v in params.items()},
                                        variation, sensor_rng)
            yield j, images
        start += n


def make_wheels(
    n_samples: Counts = 100,
    manifolds: ManifoldsArg = None,
    *,
    image_size: int = 256,
    shuffle: bool = True,
    random_state=None,
    return_params: bool = False,
    variation: Union[str, Variation] = "thesis",
):
    """Generate gray-scale wheel images from several disconnected manifolds.

    Parameters
    ----------
    n_samples : int or sequence of int, default=100
        If an int, the total number of images, split as evenly as possible
        among the manifolds (the first ``n_samples % len(manifolds)``
        manifolds get one more). If a sequence, the number of images of each
        manifold (entries may be 0, but not all).
    manifolds : None, str, WheelSpec or sequence of str / WheelSpec, default=None
        The manifolds to draw from; ``None`` means the eight normal ones
        (:data:`NORMAL_MANIFOLDS`). ``"normal"``, ``"anomalous"`` and
        ``"all"`` name the built-in groups. See :func:`resolve_manifolds`.
    image_size : int, default=256
        Height and width in pixels, at least 32.
    shuffle : bool, default=True
        Shuffle the images; otherwise they come grouped by manifold, in order.
    random_state : int, RandomState instance or None, default=None
        Determines geometry, noise and shuffling. Pass an int for
        reproducible output.
    return_params : bool, default=False
        Also return the geometry (and nuisance values) of every image.
    variation : {"thesis", "inspection"} or Variation, default="thesis"
        The camera's nuisance variation, drawn the same way for every
        manifold (see :mod:`danogan_sk.datasets.wheel_variation`).
        ``"thesis"`` adds none: the images of the D-AnoGAN thesis.
        ``"inspection"`` turns the wheel over the whole circle, moves and
        scales it in the frame, lights it unevenly and adds sensor gain,
        offset, noise and blur.

    Returns
    -------
    X : ndarray of shape (n_samples, image_size, image_size), dtype float32
        Images with values in [0, 1].
    y : ndarray of shape (n_samples,), dtype int64
        Index of each image's manifold in the resolved ``manifolds`` sequence.
    params : dict of ndarray of shape (n_samples,)
        Only if ``return_params``: ``rim_diameter`` and ``hub_diameter``
        (fractions of the image width, before ``scale``) and ``rotation``
        (degrees, the design's plus the variation's). With a variation other
        than ``"thesis"`` also every nuisance value drawn
        (:data:`~danogan_sk.datasets.wheel_variation.NUISANCE_KEYS`):
        ``scale`` (factor on both diameters), ``center_x`` and ``center_y``
        (offset of the wheel's centre, fractions of the width, to the right
        and down), ``illumination`` (gradient strength) and
        ``illumination_angle`` (degrees), ``brightness`` (offset),
        ``contrast`` (gain), ``noise`` (standard deviation) and ``blur``
        (standard deviation, fraction of the width).

    Notes
    -----
    With the same ``random_state`` and counts, manifold lists whose specs have
    the same ``rim_range``, ``hub_range`` and ``rotation`` produce wheels
    of identical geometry and nuisance values, so a normal manifold and its
    faulty variant can be compared image by image: they differ only where
    the defect is.

    Examples
    --------
    >>> from danogan_sk.datasets.wheel import make_wheels
    >>> X, y = make_wheels(16, image_size=64, random_state=0)
    >>> X.shape, X.dtype, y.tolist().count(0)
    ((16, 64, 64), dtype('float32'), 2)
    >>> X, y = make_wheels([3, 1], ["5spoke_forked_5bolt", "low_contrast_fork"],
    ...                    image_size=64, shuffle=False, random_state=0)
    >>> y.tolist()
    [0, 0, 0, 1]
    """
    specs = resolve_manifolds(manifolds)
    size = _check_image_size(image_size)
    counts = _resolve_counts(n_samples, len(specs))
    variation = resolve_variation(variation)
    rng = check_random_state(random_state)
    params, seeds = _draw_geometry(specs, counts, rng, variation)

    y = np.repeat(np.arange(len(specs), dtype=np.int64), counts)
    order = rng.permutation(len(y)) if shuffle else np.arange(len(y))
    # Scatter each chunk straight to its shuffled place: no second copy of X.
    where = np.empty_like(order)
    where[order] = np.arange(len(order))
    X = np.empty((len(y), size, size), dtype=np.float32)
    for j, images in _iter_chunks(specs, counts, params, seeds, size, variation):
        X[where[j]] = images
    y = y[order]
    params = {k: v[order] for k, v in params.items()}
    return (X, y, params) if return_params else (X, y)


# ------------------------------------------------------------------------- writing


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "wheel"


def _to_uint8(images: np.ndarray) -> np.ndarray:
    return np.rint(images * 255.0).astype(np.uint8)


def _require_pillow():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "writing PNG wheel images needs Pillow: pip install pillow "
            "(or use fmt='npz', which needs only numpy)"
        ) from None
    return Image


def write_wheels(
    out_dir: Union[str, Path],
    n_per_manifold: Counts = 100,
    image_size: int = 256,
    manifolds: ManifoldsArg = "all",
    fmt: str = "png",
    random_state=None,
    variation: Union[str, Variation] = "thesis",
) -> Path:
    """Write a Wheel data set to disk as PNG files or one npz archive.

    Images are generated a chunk at a time, so PNG output of any size runs in
    bounded memory; npz output holds the whole set in memory.

    Parameters
    ----------
    out_dir : str or Path
        Output folder, created if missing. A data set written there before
        is replaced: the PNG files its ``labels.csv`` lists, ``labels.csv``
        and ``wheels.npz`` are removed first, so no old image outlives it.
        Other files are left alone.
    n_per_manifold : int or sequence of int, default=100
        Images per manifold: one int for all, or one count per manifold.
    image_size : int, default=256
        Height and width in pixels, at least 32.
    manifolds : None, str, WheelSpec or sequence of str / WheelSpec, default="all"
        The manifolds to write; ``"all"`` is the eight normal then the two
        anomalous manifolds (labels 0-7 normal, 8-9 anomalous), ``None`` the
        normal ones only. See :func:`resolve_manifolds`.
    fmt : {"png", "npz"}, default="png"
        ``"png"``: one 8-bit gray PNG per image plus ``labels.csv`` with the
        columns ``filename, label, manifold, rim_diameter, hub_diameter,
        rotation`` (file name first and integer label second, as a
        ``torch.utils.data.Dataset`` reading ``labels.csv`` expects).
        Needs Pillow. ``"npz"``: one compressed ``wheels.npz`` holding
        ``X`` (float32, n x H x W), ``y`` (int64), ``manifolds`` (names,
        indexed by ``y``) and the geometry arrays. With a variation other
        than ``"thesis"``, the nuisance values of every image follow the
        geometry, as CSV columns or npz arrays.
    random_state : int, RandomState instance or None, default=None
        Pass an int for a reproducible data set. Images are written grouped
        by manifold and equal ``make_wheels(..., shuffle=False)`` with the
        same arguments (up to 8-bit quantisation for PNG).
    variation : {"thesis", "inspection"} or Variation, default="thesis"
        The camera's nuisance variation, as in :func:`make_wheels`; with
        ``manifolds="inspection"`` this writes the inspection benchmark's
        twelve manifolds.

    Returns
    -------
    path : Path
        The written ``labels.csv`` (PNG) or ``wheels.npz`` (npz).

    Examples
    --------
    >>> import tempfile
    >>> from danogan_sk.datasets.wheel import write_wheels
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = write_wheels(d, 2, image_size=32, fmt="npz", random_state=0)
    ...     path.name
    'wheels.npz'
    """
    fmt_norm = fmt.lower() if isinstance(fmt, str) else fmt
    if fmt_norm not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    specs = resolve_manifolds(manifolds)
    size = _check_image_size(image_size)
    if isinstance(n_per_manifold, numbers.Integral) and not isinstance(n_per_manifold, bool):
        _as_int(n_per_manifold, "n_per_manifold", minimum=1)
        n_per_manifold = [n_per_manifold] * len(specs)  # an int is a count per manifold here
    counts = _resolve_counts(n_per_manifold, len(specs), what="n_per_manifold")
    variation = resolve_variation(variation)
    image_module = _require_pillow() if fmt_norm == "png" else None  # fail before any work
    rng = check_random_state(random_state)
    params, seeds = _draw_geometry(specs, counts, rng, variation)
    y = np.repeat(np.arange(len(specs), dtype=np.int64), counts)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _remove_previous_set(out)
    chunks = _iter_chunks(specs, counts, params, seeds, size, variation)
    if fmt_norm == "npz":
        return _write_npz(out, chunks, y, specs, params, size)
    return _write_png(out, chunks, y, specs, counts, params, image_module)


def _remove_previous_set(out: Path) -> None:
    """Delete the files a previous :func:`write_wheels` left in ``out``."""
    labels = out / "labels.csv"
    if labels.is_file():
        with open(labels, newline="") as f:
            names = [row[0] for row in list(csv.reader(f))[1:] if row]
        for name in names:
            # Only plain PNG names: a labels.csv edited by hand cannot reach other files.
            if Path(name).name == name and name.endswith(".png"):
                (out / name).unlink(missing_ok=True)
        labels.unlink()
    (out / "wheels.npz").unlink(missing_ok=True)


def _write_npz(out: Path, chunks, y, specs, params, size) -> Path:
    X = np.empty((len(y), size, size), dtype=np.float32)
    for j, images in chunks:
        X[j] = images
    path = out / "wheels.npz"
    names = np.array([s.name for s in specs])
    np.savez_compressed(path, X=X, y=y, manifolds=names, **params)
    return path


def _png_names(specs, counts) -> list:
    width = max(5, len(str(int(counts.max()) - 1)))
    return [
        f"{label:02d}_{_safe_name(spec.name)}_{i:0{width}d}.png"
        for label, (spec, n) in enumerate(zip(specs, counts))
        for i in range(n)
    ]


def _write_png(out: Path, chunks, y, specs, counts, params, image_module) -> Path:
    names = _png_names(specs, counts)
    for j, images in chunks:
        for name, pixels in zip(names[j], _to_uint8(images)):
            image_module.fromarray(pixels).save(out / name)
    path = out / "labels.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS[:3] + tuple(params))
        for i, name in enumerate(names):
            writer.writerow([name, int(y[i]), specs[y[i]].name]
                            + [f"{values[i]:.6f}" for values in params.values()])
    return path
