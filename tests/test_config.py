"""Every parameter is defined once (danogan_sk.config); the rest is derived and documented."""

import ast
import inspect
import re

import pytest

from danogan_sk import DAnoGANDetector
from danogan_sk.config import CONFIGS, parameter_defaults

_ENTRY = re.compile(r"^    (?P<names>\w+(?:, \w+)*) : (?P<kind>.*)$")


def _documented_parameters() -> dict[str, str]:
    """Parameter names of the detector's docstring, with the type line of each."""
    doc = inspect.getdoc(DAnoGANDetector)
    section = doc.split("Parameters\n----------\n")[1].split("\n\nAttributes\n")[0]
    entries = {}
    for line in ("    " + line for line in section.splitlines()):
        match = _ENTRY.match(line)
        if match:
            for name in match["names"].split(", "):
                entries[name] = match["kind"]
    return entries


def test_the_docstring_documents_exactly_the_parameters_with_their_defaults():
    documented = _documented_parameters()
    defaults = parameter_defaults()
    assert sorted(documented) == sorted(defaults)
    for name, kind in documented.items():
        written = re.search(r"default=(.+)$", kind)
        if written:  # a default written out must be the real one
            assert ast.literal_eval(written.group(1)) == defaults[name], name


def test_signature_constraints_and_defaults_come_from_the_configuration():
    signature = inspect.signature(DAnoGANDetector.__init__)
    parameters = [p for name, p in signature.parameters.items() if name != "self"]
    assert [p.name for p in parameters] == list(parameter_defaults())
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters)
    assert {p.name: p.default for p in parameters} == parameter_defaults()
    assert set(DAnoGANDetector._parameter_constraints) == set(parameter_defaults())
    assert DAnoGANDetector().get_params() == parameter_defaults()
    # no name in two configuration classes
    assert sum(len(c.__dataclass_fields__) for c in CONFIGS) == len(parameter_defaults())


def test_parameters_are_keyword_only_and_checked_by_name():
    with pytest.raises(TypeError):
        DAnoGANDetector(10)
    with pytest.raises(TypeError, match="n_generator"):
        DAnoGANDetector(n_generator=3)
    assert DAnoGANDetector(n_epochs=3, alpha=0.5).get_params()["n_epochs"] == 3


def test_a_detector_saved_before_a_parameter_was_added_loads_and_scores():
    import numpy as np

    X = np.random.default_rng(0).normal(size=(40, 3))
    det = DAnoGANDetector(n_generators=2, n_epochs=1, xzx_epochs=0, random_state=0).fit(X)
    state = det.__getstate__()
    for name in ("validation_fraction", "n_iter_no_change", "warm_start", "critic_average_epochs",
                 "generator_average_epochs"):
        del state[name]
    old = DAnoGANDetector.__new__(DAnoGANDetector)
    old.__setstate__(state)
    np.testing.assert_allclose(old.score_samples(X), det.score_samples(X))
    assert old.get_params()["warm_start"] is False
    # Fitted before the critic was averaged: it reports the last epoch's critic, not the default.
    assert old.get_params()["critic_average_epochs"] == 1 != DAnoGANDetector().critic_average_epochs
