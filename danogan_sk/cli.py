"""The ``danogan`` command.

``danogan run`` fits a detector (on pixels, or behind ``PolarSpectrum``) on
the built-in Wheel data (no download) and prints its ROC AUC against each
anomalous manifold; ``danogan wheels`` writes a Wheel data set to disk. Each
subcommand is one ``_add_*`` function that registers its arguments and the
function it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["main", "output_folder"]

#: Failures a user can cause (bad values, paths, a missing optional package):
#: reported in one line, with exit status 2.
_USER_ERRORS = (ValueError, OSError, ImportError)


def output_folder(path: Path, option: str = "--out") -> Path:
    """Create the folder ``path`` (and its parents) if needed; a ``ValueError`` if a file is in the way."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        in_the_way = next((p for p in (path, *path.parents) if p.exists()), path)
        raise ValueError(f"{option} {path}: {in_the_way} is a file, not a folder") from exc
    return path


def _one_line(exc: BaseException) -> str:
    """The error's message on one line; an OS error as 'what: which file'."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.strerror}: {exc.filename}"
    return " ".join(str(exc).split())


def _add_wheels(subparsers) -> None:
    parser = subparsers.add_parser(
        "wheels",
        help="write a Wheel data set (PNG files and labels.csv, or one .npz)",
        description="Write images of the Wheel data set's manifolds to a folder.",
    )
    parser.add_argument("--per-manifold", type=int, default=100, help="images per manifold")
    parser.add_argument("--size", type=int, default=256, help="height and width in pixels")
    parser.add_argument(
        "--out", type=Path, required=True,
        help="output folder; a Wheel data set written there before is replaced (its PNG "
             "files, labels.csv and wheels.npz are removed), other files are left alone",
    )
    parser.add_argument("--format", choices=("png", "npz"), default="png")
    parser.add_argument(
        "--manifolds",
        nargs="+",
        default=None,
        help="manifold names, or 'normal', 'anomalous', 'all', 'subtle', 'inspection' "
             "(default: 'all', or 'inspection' with --variation inspection)",
    )
    parser.add_argument("--variation", choices=("thesis", "inspection"), default="thesis",
                        help="camera nuisance variation (default: thesis, none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=_run_wheels)


def _run_wheels(args: argparse.Namespace) -> int:
    from .datasets import write_wheels

    chosen = args.manifolds or ["inspection" if args.variation == "inspection" else "all"]
    manifolds = chosen[0] if len(chosen) == 1 else chosen
    path = write_wheels(
        output_folder(args.out),
        n_per_manifold=args.per_manifold,
        image_size=args.size,
        manifolds=manifolds,
        fmt=args.format,
        random_state=args.seed,
        variation=args.variation,
    )
    print(f"wrote {path}")
    return 0


#: Epochs (phase 1, xzx) of ``danogan run --front-end polar-spectrum``: an epoch on
#: 1,600 rows of 990 values costs a fraction of a second, and the detector on
#: these rows went on gaining up to about 600 + 120 epochs (docs/benchmarks.md,
#: "The inspection preset on the development protocol").
_POLAR_EPOCHS = (600, 120)


def _add_run(subparsers) -> None:
    parser = subparsers.add_parser(
        "run",
        help="fit D-AnoGAN on Wheel normals and score every Wheel anomaly",
        description=(
            "The thesis's Wheel protocol at a CPU-sized scale: the 8 normal manifolds "
            "split 80/20, one detector fitted on the 80%, tested against each "
            "anomalous manifold. Prints ROC AUC and timings."
        ),
    )
    parser.add_argument("--dataset", choices=("wheel", "wheel-inspection"), default="wheel",
                        help="wheel-inspection: under a production-line camera's variation, "
                             "with two subtle anomalies more")
    parser.add_argument("--size", type=int, default=None,
                        help="image side in pixels (default 32 for wheel, 64 for wheel-inspection)")
    parser.add_argument("--per-manifold", type=int, default=250, help="images per manifold")
    parser.add_argument("--n-epochs", type=int, default=None, help="phase 1 epochs (default: the detector's)")
    parser.add_argument("--xzx-epochs", type=int, default=None, help="xzx epochs (default: the detector's)")
    parser.add_argument("--n-generators", type=int, default=None)
    parser.add_argument("--alpha", type=float, default=None, help="weight of the KL term (default: the detector's)")
    parser.add_argument(
        "--front-end", choices=("pixels", "polar-spectrum"), default="pixels",
        help="polar-spectrum: the detector and the 1-NN see PolarSpectrum rows (rotation- and "
             "gain-invariant, for round parts) instead of pixels, and the detector trains "
             f"{_POLAR_EPOCHS[0]} + {_POLAR_EPOCHS[1]} epochs unless --n-epochs / --xzx-epochs say otherwise",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("danogan_output"), help="folder for results")
    parser.add_argument("--verbose", type=int, default=1)
    parser.set_defaults(func=_run_main_job)


def _run_models(args: argparse.Namespace):
    """``(model, detector, nearest_name, nearest)`` of ``danogan run``.

    ``model`` is what is fitted and saved: the detector, or ``PolarSpectrum``
    and the detector in a pipeline; ``nearest`` is the benchmark's nearest
    neighbour on the same pixels or rows, ``nearest_name`` its name there.
    """
    from sklearn.pipeline import make_pipeline

    from . import DAnoGANDetector
    from .benchmark.methods import METHODS, POLAR_NN
    from .preprocessing import PolarSpectrum

    polar = args.front_end == "polar-spectrum"
    overrides = {
        "n_epochs": _POLAR_EPOCHS[0] if polar and args.n_epochs is None else args.n_epochs,
        "xzx_epochs": _POLAR_EPOCHS[1] if polar and args.xzx_epochs is None else args.xzx_epochs,
        "n_generators": args.n_generators,
        "alpha": args.alpha,
    }
    detector = DAnoGANDetector(
        device=args.device,
        random_state=args.seed,
        verbose=args.verbose,
        **{k: v for k, v in overrides.items() if v is not None},
    )
    model = make_pipeline(PolarSpectrum(), detector) if polar else detector
    nearest_name = POLAR_NN if polar else "raw-pixel 1-NN"
    return model, detector, nearest_name, METHODS[nearest_name].make(args.seed, 0)


def _why_this_patch_weight(detector, polar: bool) -> str:
    """Why ``patch_weight="auto"`` chose what it did, for ``danogan run``'s output."""
    pseudo = detector.pseudo_anomaly_aucs_
    if pseudo is not None:
        return f"pseudo-anomaly AUC {pseudo[0]:.3f} for 0, {pseudo[1]:.3f} for the split"
    if polar:
        return "the patch term reads images, and the detector sees rows"
    return "nothing to compare: the classifier routed the training data to fewer than two clusters"


def _run_main_job(args: argparse.Namespace) -> int:
    import joblib
    from sklearn.metrics import roc_auc_score

    from . import THESIS_PARAMS
    from .benchmark.dagan import thesis_and_default_scores
    from .benchmark.methods import timed_fit_and_score
    from .datasets import normal_anomaly_split
    from .datasets.wheel_benchmarks import get_wheel_benchmark

    output_folder(args.out)  # before training, which a file in the way would waste
    bench = get_wheel_benchmark(args.dataset)
    names, anomalous = bench.class_names, bench.anomaly_labels
    normal = [i for i in range(len(names)) if i not in anomalous]
    size = bench.image_size if args.size is None else args.size
    X, y = bench.make(args.per_manifold, args.seed, size)
    split = normal_anomaly_split(X, y, normal, anomalous, random_state=args.seed)
    model, detector, nearest_name, nearest = _run_models(args)
    polar = model is not detector
    print(
        f"{args.dataset} {size}x{size}: {len(split.X_train)} normal training images, "
        f"{len(split.X_test)} test images; fitting {detector.n_generators} generators "
        f"for {detector.n_epochs} + {detector.xzx_epochs} epochs on {args.device}"
        + (" behind PolarSpectrum" if polar else ""),
        flush=True,
    )

    def both_scores(fitted, X) -> dict:
        # The detector's score at its settings, and the thesis's eq. 5.1 beside it.
        rows = fitted[:-1].transform(X) if polar else X
        thesis, default = thesis_and_default_scores(detector, detector.score_components(rows))
        return {"score": default, "thesis": thesis}

    scores, fit_seconds, score_seconds = timed_fit_and_score(model, split.X_train, split.X_test, both_scores)
    # The yardstick on the same split: distance to the nearest training image (or row).
    scores["1-NN"] = nearest.fit(split.X_train).anomaly_score(split.X_test)

    results = {"front_end": args.front_end, "fit_seconds": fit_seconds, "score_seconds": score_seconds,
               **{k: detector.get_params()[k] for k in ("alpha", "critic_weight", "neighbor_weight",
                                                       "latent_weight", "patch_weight", "scale_terms")},
               "patch_weight_": detector.patch_weight_}
    print(f"\n| anomaly | ROC AUC, D-AnoGAN | ROC AUC, thesis eq. 5.1 (alpha={THESIS_PARAMS['alpha']}) "
          f"| ROC AUC, {nearest_name} |\n|---|---|---|---|")
    aucs = []
    for index in anomalous:
        mask = split.test_mask(index)
        row = [roc_auc_score(split.y_test[mask], scores[k][mask]) for k in ("score", "thesis", "1-NN")]
        aucs.append(row)
        for key, auc in zip(("", " (thesis eq. 5.1)", f" ({nearest_name})"), row):
            results[names[index] + key] = auc
        print(f"| {names[index]} | " + " | ".join(f"{auc:.3f}" for auc in row) + " |")
    print("| mean | " + " | ".join(f"{auc:.3f}" for auc in np.mean(aucs, axis=0)) + " |")
    if detector.patch_weight == "auto":
        print(f"\npatch_weight='auto' chose patch_weight_={detector.patch_weight_} at fit "
              f"({_why_this_patch_weight(detector, polar)})")
    print(f"\nfit {fit_seconds:.1f} s, scoring {len(split.X_test)} images {score_seconds:.1f} s")

    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    joblib.dump(model, args.out / "detector.joblib")
    print(f"results and fitted detector saved in {args.out}/")
    return 0


def _add_bench(subparsers) -> None:
    from .benchmark.cli import add_bench_parser

    add_bench_parser(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """The ``danogan`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="danogan", description="D-AnoGAN anomaly detection for disconnected data manifolds."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_run(subparsers)
    _add_wheels(subparsers)
    _add_bench(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``danogan`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except _USER_ERRORS as exc:
        print(f"danogan {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
