"""The thesis's published ROC AUCs (tables 5.1-5.3 and 5.6), to print beside ours.

Copied from the thesis text; the methods' references are the thesis's
([18] VAE, [9] f-AnoGAN, [31] OCGAN, [20] BiGAN, [13] GANomaly). The Wheel
columns "Spoke" and "Hub" correspond to this package's anomalous manifolds
``low_contrast_fork`` and ``mixed_bolts``.
"""

from __future__ import annotations

__all__ = ["PUBLISHED", "ABLATION", "published_table"]

_MNIST = {
    "VAE [18]": [0.96, 0.73, 0.98, 0.91, 0.79, 0.92, 0.92, 0.76, 0.91, 0.62, 0.85],
    "f-AnoGAN [9]": [0.80, 0.10, 0.79, 0.64, 0.58, 0.72, 0.71, 0.47, 0.71, 0.45, 0.60],
    "OCGAN [31]": [0.86, 0.46, 0.93, 0.83, 0.83, 0.78, 0.83, 0.73, 0.59, 0.67, 0.75],
    "BiGAN [20]": [0.82, 0.43, 0.83, 0.71, 0.72, 0.74, 0.74, 0.48, 0.72, 0.47, 0.67],
    "GANomaly [13]": [0.78, 0.16, 0.83, 0.68, 0.69, 0.73, 0.82, 0.53, 0.84, 0.56, 0.66],
    "D-AnoGAN": [0.91, 0.91, 0.92, 0.94, 0.91, 0.88, 0.93, 0.91, 0.94, 0.89, 0.91],
}
_FASHION = {
    "VAE [18]": [0.57, 0.84, 0.61, 0.63, 0.58, 0.83, 0.56, 0.59, 0.94, 0.79, 0.69],
    "f-AnoGAN [9]": [0.51, 0.61, 0.53, 0.56, 0.53, 0.70, 0.51, 0.68, 0.77, 0.82, 0.62],
    "OCGAN [31]": [0.54, 0.84, 0.52, 0.62, 0.59, 0.84, 0.48, 0.60, 0.48, 0.70, 0.62],
    "BiGAN [20]": [0.67, 0.50, 0.59, 0.53, 0.56, 0.65, 0.65, 0.58, 0.83, 0.69, 0.62],
    "GANomaly [13]": [0.68, 0.85, 0.52, 0.71, 0.49, 0.95, 0.53, 0.67, 0.97, 0.81, 0.70],
    "D-AnoGAN": [0.62, 0.82, 0.57, 0.73, 0.53, 0.87, 0.57, 0.64, 0.97, 0.81, 0.71],
}
_WHEEL = {
    "VAE [18]": [0.60, 0.52, 0.56],
    "f-AnoGAN [9]": [0.74, 0.71, 0.72],
    "OCGAN [31]": [0.84, 0.98, 0.91],
    "BiGAN [20]": [0.82, 0.66, 0.74],
    "GANomaly [13]": [0.62, 0.54, 0.58],
    "D-AnoGAN": [0.88, 0.97, 0.93],
}
_DIGITS = [str(c) for c in range(10)] + ["mean"]

#: dataset -> (column names, {method: AUCs}); the last column is the mean.
PUBLISHED: dict[str, tuple[list[str], dict[str, list[float]]]] = {
    "mnist": (_DIGITS, _MNIST),
    "fashion-mnist": (_DIGITS, _FASHION),
    "wheel": (["low_contrast_fork (Spoke)", "mixed_bolts (Hub)", "mean"], _WHEEL),
}

#: Table 5.6, mean AUC of the ablations: {setting: (MNIST, Wheel)}.
ABLATION = {
    "Training w/o bandit": (0.92, 0.89),
    "Training w/o xzx": (0.90, 0.93),
    "Normal training": (0.91, 0.93),
}


def published_table(dataset: str) -> str:
    """The thesis's table for ``dataset`` in markdown, best per column in bold.

    Examples
    --------
    >>> print(published_table("wheel").splitlines()[0])
    | thesis (published) | low_contrast_fork (Spoke) | mixed_bolts (Hub) | mean |
    """
    columns, rows = PUBLISHED[dataset]
    best = [max(values[i] for values in rows.values()) for i in range(len(columns))]
    lines = [
        "| thesis (published) | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for method, values in rows.items():
        cells = [f"**{v:.2f}**" if v == b else f"{v:.2f}" for v, b in zip(values, best)]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
