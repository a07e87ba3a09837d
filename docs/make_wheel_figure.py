"""Draw samples of all ten Wheel manifolds into ``docs/figures/wheel_manifolds.png``.

Run from the repository root::

    python docs/make_wheel_figure.py

Like figure 5.3 of the D-AnoGAN thesis: the eight normal manifolds, then the
two anomalous ones (titled in red). Each column is one manifold; the rows are
independent draws, so the rim and hub diameters vary down a column.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write a file, never open a window
import matplotlib.pyplot as plt  # noqa: E402

from danogan_sk.datasets.wheel import ALL_MANIFOLDS, NORMAL_MANIFOLDS, make_wheels  # noqa: E402

OUT = Path(__file__).resolve().parent / "figures" / "wheel_manifolds.png"
ROWS = 3
IMAGE_SIZE = 128


def main(out: Path = OUT) -> Path:
    X, y = make_wheels([ROWS] * len(ALL_MANIFOLDS), ALL_MANIFOLDS, image_size=IMAGE_SIZE,
                       shuffle=False, random_state=0)
    cols = len(ALL_MANIFOLDS)
    fig, axes = plt.subplots(ROWS, cols, figsize=(cols * 1.3, ROWS * 1.4))
    for col, spec in enumerate(ALL_MANIFOLDS):
        anomalous = col >= len(NORMAL_MANIFOLDS)
        for row, image in enumerate(X[y == col]):
            ax = axes[row, col]
            ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="antialiased")
            ax.set_axis_off()
        axes[0, col].set_title(spec.name.replace("_", "\n", 1), fontsize=7,
                               color="tab:red" if anomalous else "black")
    fig.tight_layout(pad=0.3)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    _shrink(out)
    return out


def _shrink(path: Path) -> None:
    """Re-save with a 64-color palette to keep the file small (needs Pillow, else skipped)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=64)
    small.save(path, optimize=True)


if __name__ == "__main__":
    path = main()
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")
