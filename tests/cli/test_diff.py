"""`stepsize diff` against a real server: every step through the horizon, exit 1 when
the curves differ (like diff(1))."""

from __future__ import annotations

import pytest

# The two differ at exactly one step, after step 10,000: step 20,000.
EARLY = {"type": "piecewise", "boundaries": [5000, 20000], "values": [0.1, 0.01, 0.001]}
LATE = {"type": "piecewise", "boundaries": [5000, 20001], "values": [0.1, 0.01, 0.001]}
OPEN = {"type": "expression", "expr": "0.1 / sqrt(1 + step / 100)"}
OPEN_LATER = {"type": "expression", "expr": "0.1 / sqrt(1 + step / 100) + (step >= 99999) * 0.01"}


@pytest.fixture(scope="module")
def curves(registry):
    registry.publish("diff/steps", EARLY)
    registry.publish("diff/steps", LATE)
    return registry


def test_diff_finds_a_difference_after_step_10000_and_exits_1(stepsize, curves):
    result = stepsize("diff", "diff/steps@1", "diff/steps@2")
    assert result.code == 1 and result.err == ""
    assert "-    20000" in result.out and "+    20001" in result.out
    assert curves.values("diff/steps@1", 20_001)[20_000] == 0.001  # independent check
    assert curves.values("diff/steps@2", 20_001)[20_000] == 0.01
    values_line = result.out.splitlines()[-1]
    assert values_line.startswith("values: differ on 1 of 20,002 steps [0, 20,002)")
    assert "first at step 20,000 (0.001 vs 0.01)" in values_line
    assert "largest difference 0.009 at step 20,000" in values_line

    answer = stepsize("diff", "diff/steps@1", "diff/steps@2", "--json")
    assert answer.code == 1
    document = answer.json()
    assert (document["stop"], document["identical"], document["differing_steps"]) == (
        20_002,
        False,
        1,
    )
    assert document["largest_difference"] == {
        "step": 20_000,
        "a": 0.001,
        "b": 0.01,
        "difference": pytest.approx(0.009),
    }
    assert document["a"]["horizon"] == 20_000 and document["b"]["horizon"] == 20_001


def test_diff_to_stop_compares_only_that_far(stepsize, curves):
    result = stepsize("diff", "diff/steps@1", "diff/steps@2", "--stop", "20000")
    assert result.code == 0
    assert result.out.splitlines()[-1] == "values: identical on steps [0, 20,000) (--stop)"


def test_diff_of_the_same_version_through_a_tag_is_identical(stepsize, curves):
    stepsize("tag", "diff/steps", "prod", "2")
    result = stepsize("diff", "diff/steps:prod", "diff/steps")
    assert result.code == 0
    assert result.out.startswith("definitions: identical (sha256:")
    assert "values: identical on steps [0, 20,002)" in result.out


def test_diff_without_a_horizon_uses_the_stated_default(stepsize, registry):
    registry.publish("diff/open", OPEN)
    registry.publish("diff/open", OPEN_LATER)
    result = stepsize("diff", "diff/open@1", "diff/open@2", "--json")
    assert result.code == 1
    document = result.json()
    assert document["stop"] == 100_000 and "no horizon" in document["range"]
    assert document["first_difference"]["step"] == 99_999
    assert document["differing_steps"] == 1


def test_diff_trouble_is_one_line(stepsize, curves):
    unknown = stepsize("diff", "diff/steps@1", "diff/nope")
    assert unknown.code == 1 and unknown.err.startswith("stepsize: error: 404")
    huge = stepsize("diff", "diff/steps@1", "diff/steps@2", "--stop", str(10**9))
    assert huge.code == 2 and "--stop" in huge.err
