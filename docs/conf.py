"""Sphinx configuration of the danogan_sk documentation.

Build (warnings are errors, as in the test suite)::

    python -m sphinx -W --keep-going -b html docs build/docs

The pages are Markdown (MyST); the API reference is generated from the
numpydoc docstrings of the package.
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

import danogan_sk  # noqa: E402

project = "danogan_sk"
author = "danogan_sk contributors"
copyright = "the danogan_sk contributors"
version = release = danogan_sk.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "figures", "README.md", "**/.ipynb_checkpoints"]

# Markdown: $...$ and $$...$$ maths, anchors for ## and ### headings.
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# API reference: members are documented where autodoc lists them; numpydoc's
# own member tables would need autosummary stub pages.
autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_static_path = []
html_title = f"danogan_sk {release}"

# Pages listed in this order in the table of contents; any other Markdown
# page in docs/ (a new page, or one not written yet when this list was) is
# added after them, so that no page is left out of the navigation.
ORDERED_PAGES = [
    "install",
    "concepts",
    "user_guide",
    "datasets",
    "wheel",
    "benchmarks",
    "scaling",
    "performance",
    "api",
    "changelog",
]


def _other_pages():
    known = set(ORDERED_PAGES) | {"index"}
    return sorted(
        p.stem for p in DOCS.glob("*.md") if p.stem not in known and not p.name.startswith("_")
    )


def _write_index_toctree(app, docname, source):
    """Fill the index's table of contents with the pages that exist."""
    if docname != "index":
        return
    pages = [p for p in ORDERED_PAGES if (DOCS / f"{p}.md").exists()] + _other_pages()
    toctree = "```{toctree}\n:maxdepth: 2\n\n" + "\n".join(pages) + "\n```\n"
    source[0] = source[0].replace("<!-- toctree -->", toctree)


def setup(app):
    app.connect("source-read", _write_index_toctree)
