"""The golden file equals what the frameworks answer, and the evaluator equals the file."""

from __future__ import annotations

import pytest
from stepsize_server.schedules import TYPE_NAMES, evaluate

from tests.golden import case_id, load_cases, relative_error, tolerance
from tests.support.frameworks import framework_values

CASES = load_cases()


def test_every_framework_type_has_a_framework_case():
    covered = {c["definition"]["type"] for c in CASES if c["source"] == "framework"}
    framework_types = {n for n in TYPE_NAMES if n.split(".")[0] in {"keras", "torch", "hf"}}
    assert framework_types <= covered


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_evaluator_matches_golden(case):
    got = evaluate(case["definition"], case["steps"], steps_per_epoch=case["steps_per_epoch"])
    assert relative_error(got, case["lr"]) <= tolerance(case)


@pytest.mark.parametrize("case", [c for c in CASES if c["source"] == "framework"], ids=case_id)
def test_golden_file_is_what_the_framework_answers(case):
    fresh = framework_values(case["definition"], case["steps"])
    assert relative_error(fresh, case["lr"]) <= tolerance(case), (
        "tests/golden/cases.json is stale: regenerate it with "
        "`.venv/bin/python -m tests.golden.generate`"
    )
