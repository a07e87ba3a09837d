"""A grid of Wheel samples, one column per manifold (matplotlib and Pillow, imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence, Tuple, Union

import numpy as np

from .wheel import WheelSpec

__all__ = ["wheel_samples_figure"]


def wheel_samples_figure(
    X: np.ndarray,
    y: np.ndarray,
    specs: Sequence[WheelSpec],
    n_normal: int,
    out: Union[str, Path],
    *,
    cell: Tuple[float, float] = (1.3, 1.4),
    dpi: int = 80,
    interpolation: str = "antialiased",
) -> Path:
    """Draw the images of each manifold down a column; anomalous columns titled in red.

    Parameters
    ----------
    X : ndarray of shape (n, H, W)
        Images in [0, 1], the same number per manifold.
    y : ndarray of shape (n,)
        Index of each image's manifold in ``specs``.
    specs : sequence of WheelSpec
        The manifolds, one column each, in order.
    n_normal : int
        The first ``n_normal`` columns are normal, the rest anomalous.
    out : str or Path
        PNG file to write; re-saved with a 64-color palette when Pillow is
        installed, which keeps it small.
    cell : (float, float), default=(1.3, 1.4)
        Width and height of one image's cell in inches.
    dpi : int, default=80
    interpolation : str, default="antialiased"
        Passed to ``imshow``; ``"nearest"`` shows the pixels as they are.

    Returns
    -------
    Path
        ``out``.
    """
    import matplotlib

    matplotlib.use("Agg")  # write a file, never open a window
    import matplotlib.pyplot as plt

    rows = int(np.bincount(y).max())
    fig, axes = plt.subplots(rows, len(specs), figsize=(len(specs) * cell[0], rows * cell[1]),
                             squeeze=False)
    for col, spec in enumerate(specs):
        for row, image in enumerate(X[y == col]):
            axes[row, col].imshow(image, cmap="gray", vmin=0.0, vmax=1.0,
                                  interpolation=interpolation)
            axes[row, col].set_axis_off()
        axes[0, col].set_title(spec.name.replace("_", "\n", 1), fontsize=7,
                               color="tab:red" if col >= n_normal else "black")
    fig.tight_layout(pad=0.3)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    _shrink(out)
    return out


def _shrink(path: Path) -> None:
    """Re-save with a 64-color palette (needs Pillow, else skipped); octree keeps the red titles."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=64, method=Image.Quantize.FASTOCTREE)
    small.save(path, optimize=True)
