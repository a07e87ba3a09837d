"""The documentation builds with no warning, and its API page lists the public API."""

import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import danogan_sk
import danogan_sk.datasets

DOCS = Path(__file__).resolve().parents[1] / "docs"
DOC_TOOLS = ("sphinx", "myst_parser", "numpydoc")


def test_sphinx_build_has_no_warnings(tmp_path):
    missing = [name for name in DOC_TOOLS if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(
            f"documentation tools not installed ({', '.join(missing)}): "
            'pip install -e ".[test]" to build the docs'
        )
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:] or done.stdout[-4000:]
    assert (tmp_path / "html" / "api.html").exists()


def _public_callables(module):
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield f"{module.__name__}.{name}"


@pytest.mark.parametrize(
    "qualname",
    [*_public_callables(danogan_sk), *_public_callables(danogan_sk.datasets),
     "danogan_sk.pyod.DAnoGAN"],
)
def test_api_page_lists_every_public_class_and_function(qualname):
    api = (DOCS / "api.md").read_text()
    assert re.search(rf"\.\. auto(class|function):: {re.escape(qualname)}\s", api), (
        f"{qualname} is public but missing from docs/api.md"
    )


@pytest.mark.parametrize(
    "member",
    sorted(name for name in vars(danogan_sk.DAnoGANDetector) if not name.startswith("_")),
)
def test_api_page_lists_every_public_detector_method(member):
    api = (DOCS / "api.md").read_text()
    listed = re.search(r"autoclass:: danogan_sk\.DAnoGANDetector\n\s+:members: (.*)\n", api)
    assert member in [m.strip() for m in listed.group(1).split(",")], (
        f"DAnoGANDetector.{member} is public but missing from docs/api.md"
    )
