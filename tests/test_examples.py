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


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_in_fast_mode(script, tmp_path):
    env = {**os.environ, "DANOGAN_FAST": "1", "MPLBACKEND": "Agg"}
    # The fast runs use tiny networks: one thread each avoids the spin-waits
    # that make torch's default thread pool many times slower on busy cores.
    env.setdefault("OMP_NUM_THREADS", "1")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    aucs = [float(v) for v in re.findall(r"ROC AUC[^:]*: ([0-9.]+)", done.stdout)]
    assert aucs, done.stdout
    assert all(0.0 <= auc <= 1.0 for auc in aucs)
