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
    sorted({
        name
        # The detector's own methods and those of the package's mixins it is built from.
        for cls in danogan_sk.DAnoGANDetector.__mro__ if cls.__module__.startswith("danogan_sk.")
        for name in vars(cls) if not name.startswith("_")
    }),
)
def test_api_page_lists_every_public_detector_method(member):
    api = (DOCS / "api.md").read_text()
    listed = re.search(r"autoclass:: danogan_sk\.DAnoGANDetector\n\s+:members: (.*)\n", api)
    assert member in [m.strip() for m in listed.group(1).split(",")], (
        f"DAnoGANDetector.{member} is public but missing from docs/api.md"
    )


# ---------------------------------------------------------------- code blocks

#: A fenced block, possibly indented (inside a list item).
_FENCE = re.compile(
    r"^(?P<indent>[ ]*)```(?P<lang>[^\s`]*)[ ]*\n(?P<body>.*?)^(?P=indent)```[ ]*$", re.M | re.S
)
#: The marker a block that is not run carries on the line before it, with the reason.
_NOT_RUN = re.compile(r"^<!-- not run by the tests: (?P<reason>.+\S) -->$")
#: Blocks that are not code: file listings and program output.
_NOT_CODE = ("text",)
PAGES = sorted(DOCS.glob("*.md")) + [DOCS.parent / "README.md"]


def _code_blocks(page: Path) -> list[dict]:
    """The fenced code blocks of a page, in order; MyST directives (```{...}) are Sphinx's."""
    text = page.read_text()
    blocks = []
    for match in _FENCE.finditer(text):
        if match["lang"].startswith("{") or match["lang"] in _NOT_CODE:
            continue
        before = text[: match.start()].rstrip("\n").splitlines()
        marker = _NOT_RUN.match(before[-1].strip()) if before else None
        indent = len(match["indent"])
        blocks.append({
            "lang": match["lang"],
            "code": "".join(line[indent:] for line in match["body"].splitlines(keepends=True)),
            "line": text.count("\n", 0, match.start()) + 1,
            "not_run": marker["reason"] if marker else None,
        })
    return blocks


def _small_table():
    """What README's and the index page's snippets assume: normal rows, queries, labels, folds."""
    import numpy as np

    rng = np.random.default_rng(0)
    X_normal = rng.normal(size=(40, 4))
    X = np.vstack([X_normal, rng.uniform(-6, 6, size=(10, 4))])
    y = np.r_[np.ones(40), -np.ones(10)]
    cv = [(np.arange(0, 20), np.r_[np.arange(20, 40), np.arange(40, 50)]),
          (np.arange(20, 40), np.r_[np.arange(0, 20), np.arange(40, 50)])]
    return {"X_normal": X_normal, "X": X, "y": y, "cv": cv}


def _fitted_detector():
    """What the user guide's snippets assume: a fitted detector and normal data."""
    import numpy as np

    from danogan_sk import DAnoGANDetector

    rng = np.random.default_rng(0)
    X_normal, X_val = rng.random((48, 8, 8)), rng.random((16, 8, 8))
    det = DAnoGANDetector(n_generators=3, n_epochs=2, xzx_epochs=1, base_channels=4,
                          random_state=0).fit(X_normal)
    return {"det": det, "X_normal": X_normal, "X_val": X_val}


#: Names a page's prose gives its snippets ("a fitted detector det").
_GIVEN = {"README.md": _small_table, "index.md": _small_table, "user_guide.md": _fitted_detector}
#: Pages whose snippets read MNIST from the data home.
_NEEDS_MNIST = ("datasets.md",)


@pytest.fixture(scope="module")
def run_page(tmp_path_factory, request):
    """Run a page's Python blocks in order in one namespace: ``(namespace, errors by block)``."""
    done = {}

    def run(page: Path):
        if page not in done:
            if page.name in _NEEDS_MNIST:
                data_home = request.getfixturevalue("shared_data_home")
            with pytest.MonkeyPatch.context() as patch:
                patch.chdir(tmp_path_factory.mktemp(page.stem))
                patch.setenv("MPLBACKEND", "Agg")
                if page.name in _NEEDS_MNIST:
                    patch.setenv("DANOGAN_DATA_HOME", str(data_home))
                done[page] = _run_blocks(page)
        return done[page]

    return run


def _run_blocks(page: Path):
    namespace = _GIVEN.get(page.name, dict)()
    errors = {}
    for block in _code_blocks(page):
        if block["lang"] != "python" or block["not_run"]:
            continue
        if errors:  # later blocks build on the failed one
            errors[block["line"]] = "an earlier block failed"
            continue
        try:
            exec(compile(block["code"], f"{page.name}:{block['line']}", "exec"), namespace)
        except Exception as exc:  # reported by the block's own test
            errors[block["line"]] = f"{type(exc).__name__}: {exc}"
    return namespace, errors


@pytest.mark.parametrize(
    "page, block",
    [(page, block) for page in PAGES for block in _code_blocks(page)],
    ids=lambda v: v.name if isinstance(v, Path) else str(v["line"]),
)
def test_every_code_block_runs_or_says_why_not(page, block, run_page):
    if block["not_run"]:
        pytest.skip(f"{page.name}:{block['line']}: {block['not_run']}")
    assert block["lang"] == "python", (
        f"{page.name}:{block['line']}: a {block['lang'] or 'plain'} block must be Python, "
        "a ```text listing, or say why the tests do not run it"
    )
    _, errors = run_page(page)
    assert block["line"] not in errors, f"{page.name}:{block['line']}: {errors[block['line']]}"


def test_the_protocol_snippet_scores_rise_with_anomaly(run_page):
    """``y_test`` has 1 = anomaly: the AUC needs scores that rise with anomaly, not normality."""
    import numpy as np

    namespace, errors = run_page(DOCS / "datasets.md")
    assert not errors, errors
    split, model, scores = namespace["split"], namespace["model"], namespace["scores"]
    normality = model.decision_function(split.X_test)
    assert np.corrcoef(scores, normality)[0, 1] == pytest.approx(-1.0)


@pytest.mark.parametrize("page", [DOCS / "index.md", DOCS.parent / "README.md"], ids=lambda p: p.name)
def test_the_quick_snippet_names_every_component_and_when_rows_are_images(page):
    from danogan_sk.scoring import COMPONENTS

    text = page.read_text()
    listed = re.search(r"det\.score_components\(X\)\s+# per-sample terms: (.*)\n", text).group(1)
    assert [name.strip() for name in listed.split(",")] == list(COMPONENTS)
    # Flattened rows are images only with image_shape; without it, a feature table.
    assert re.search(r"\(n, 784\) with image_shape=\(28, 28\)", text)
