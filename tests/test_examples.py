"""Every example runs, in its fast mode, and prints the AUCs it promises."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Files starting with "_" are helpers the examples import, not examples.
EXAMPLES = sorted(
    p for p in (Path(__file__).resolve().parents[1] / "examples").glob("*.py")
    if not p.name.startswith("_")
)
#: A table's header ends in this column; its rows end in the AUC alone.
AUC_COLUMN = "ROC AUC on the test set"


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """The output of an example's fast run, run once per example."""
    outputs = {}

    def run(script: Path) -> subprocess.CompletedProcess:
        if script not in outputs:
            env = {**os.environ, "DANOGAN_FAST": "1", "MPLBACKEND": "Agg"}
            # The fast runs use tiny networks: one thread each avoids the spin-waits
            # that make torch's default thread pool many times slower on busy cores.
            env.setdefault("OMP_NUM_THREADS", "1")
            outputs[script] = subprocess.run(
                [sys.executable, str(script)], cwd=tmp_path_factory.mktemp(script.stem), env=env,
                capture_output=True, text=True, timeout=600,
            )
        return outputs[script]

    return run


def _table_aucs(stdout: str) -> list[float]:
    """The AUC of each row under a header ending in :data:`AUC_COLUMN`.

    A row is a name followed by numbers only; the AUC is its last one.
    """
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if line.rstrip().endswith(AUC_COLUMN)]
    aucs = []
    for start in starts:
        for line in lines[start + 1:]:
            cells = line.split()
            if len(cells) < 2 or not all(re.fullmatch(r"-?[0-9.]+", c) for c in cells[1:]):
                break
            aucs.append(float(cells[-1]))
    return aucs


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_in_fast_mode(script, fast_run):
    done = fast_run(script)
    assert done.returncode == 0, done.stderr[-2000:]
    aucs = [float(v) for v in re.findall(r"ROC AUC[^:\n]*: ([0-9.]+)", done.stdout)]
    aucs += _table_aucs(done.stdout)
    assert aucs, done.stdout
    assert all(0.0 <= auc <= 1.0 for auc in aucs)


def test_pyod_comparison_prints_one_number_per_auc_cell(fast_run):
    done = fast_run(next(p for p in EXAMPLES if p.name == "pyod_comparison.py"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(_table_aucs(done.stdout)) == 5, done.stdout  # D-AnoGAN, KNN, LOF, IForest, PCA
