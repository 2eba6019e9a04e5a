"""The parts of the `stepsize` command that need no server: its charts and its curve
comparison; and `python -m stepsize.cli` against the real server. The subcommands
themselves are tested end to end in tests/cli/."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from stepsize.cli.charts import round_up, terminal_chart, y_axis
from stepsize.cli.compare import DEFAULT_STOP, compare_values, span_of


def test_terminal_chart_shape():
    chart = terminal_chart(np.arange(100), np.linspace(1.0, 0.0, 100), width=20, height=5)
    rows = [row.split("|", 1) for row in chart.splitlines()[:5]]
    assert [label.strip() for label, _ in rows] == ["1", "0.75", "0.5", "0.25", "0"]
    assert rows[0][1].startswith("*") and rows[0][1].endswith(" ")  # high at the start
    assert rows[4][1].startswith(" ") and rows[4][1].endswith("*")  # low at the end
    assert all(len(cells) == 20 for _, cells in rows)
    assert chart.splitlines()[-1].split() == ["0", "99", "step"]


def test_the_y_axis_of_a_non_negative_curve_starts_at_zero():
    # A decay from 0.1 to 0.09: an axis from the minimum would exaggerate it tenfold.
    axis = y_axis(np.linspace(0.1, 0.09, 50), log=False)
    assert (axis.bottom, axis.top) == (0.0, 0.1)
    chart = terminal_chart(np.arange(50), np.linspace(0.1, 0.09, 50), width=10, height=5)
    assert chart.splitlines()[4].split("|")[0].strip() == "0"
    assert "*" not in chart.splitlines()[4]  # nothing drawn near 0


@pytest.mark.parametrize(
    ("values", "bottom", "top"),
    [
        ([0.0973, 0.0], 0.0, 0.1),
        ([3.0, 0.0], 0.0, 3.0),
        ([0.11, 0.01], 0.0, 0.12),
        ([-0.2, 0.5], -0.2, 0.5),
        ([0.0, 0.0], 0.0, 1.0),
    ],
)
def test_y_axis_ends_on_round_numbers(values, bottom, top):
    axis = y_axis(np.array(values), log=False)
    assert (axis.bottom, axis.top) == (bottom, top)


def test_log_axis_spans_decades_and_needs_a_positive_value():
    axis = y_axis(np.array([0.1, 0.0003, 0.0]), log=True)  # 0 cannot be drawn: left out
    assert (axis.bottom, axis.top) == (0.0001, 0.1)
    assert y_axis(np.array([0.2, 0.02]), log=True).top == 1.0
    with pytest.raises(ValueError, match="positive"):
        y_axis(np.zeros(3), log=True)


def test_round_up():
    assert [round_up(x) for x in (0.1, 0.13, 7.0, 9.5, 1e-5)] == [0.1, 0.15, 8.0, 10.0, 1e-5]


def test_compare_values_finds_one_step_in_a_later_chunk():
    a = np.full(25, 0.5)
    b = a.copy()
    b[17] = 0.25
    b[21] = 0.5 + 1e-9
    result = compare_values(lambda s, e: a[s:e], lambda s, e: b[s:e], 25, chunk=10)
    assert result.differing_steps == 2
    assert result.first == {"step": 17, "a": 0.5, "b": 0.25, "difference": 0.25}
    assert result.largest is not None and result.largest["step"] == 17
    tolerant = compare_values(
        lambda s, e: a[s:e], lambda s, e: b[s:e], 25, chunk=10, tolerance=1e-6
    )
    assert tolerant.differing_steps == 1
    same = compare_values(lambda s, e: a[s:e], lambda s, e: a[s:e], 25, chunk=10)
    assert same.identical and same.first is None


def test_span_of_horizons():
    assert span_of([100, 20_000], None) == (20_001, "through the horizon")
    assert span_of([100, None], 50) == (50, "--stop")
    stop, why = span_of([None, 200_000], None)
    assert stop == 200_001 and "no horizon" in why
    assert span_of([None], None)[0] == DEFAULT_STOP


def test_module_runs_as_the_command(live):
    out = subprocess.run(
        [sys.executable, "-m", "stepsize.cli", "--url", live.url, "lr", "team/cosine@1", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and float(out.stdout) == 0.1
