"""`stepsize plot` against a real server: a terminal chart whose y axis starts at 0 for a
non-negative curve and whose x axis ends at the horizon, or a PNG with matplotlib."""

from __future__ import annotations

import struct

import pytest

COSINE = {"type": "cosine", "start": 0.1, "end": 0.09, "steps": 1000}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def cosine(registry):
    registry.publish("plot/cosine", COSINE)
    return registry


def chart_rows(text: str) -> list[tuple[str, str]]:
    rows = [line.split("|", 1) for line in text.splitlines() if "|" in line]
    return [(label.strip(), cells) for label, cells in rows]


def test_terminal_chart_starts_at_zero_and_ends_at_the_horizon(stepsize, cosine):
    result = stepsize("plot", "plot/cosine", "--width", "40")
    assert result.code == 0 and result.err == ""
    lines = result.out.splitlines()
    assert lines[0] == "plot/cosine@1 (plot/cosine)"
    rows = chart_rows(result.out)
    assert len(rows) == 17 and all(len(cells) == 40 for _, cells in rows)
    labels = [label for label, _ in rows if label]
    # From 0 (not from the curve's minimum 0.09) to a round 0.1, in quarters.
    assert labels == ["0.1", "0.075", "0.05", "0.025", "0"]
    assert rows[0][1].startswith("*") and "*" not in rows[-1][1]
    assert lines[-1].split() == ["0", "1,000", "step"]  # the horizon: constant after 1,000


def test_plot_to_stop_and_json(stepsize, cosine):
    document = stepsize("plot", "plot/cosine", "--stop", "3000", "--json").json()
    assert (document["stop"], document["range"], document["version"]) == (3000, "--stop", 1)
    assert document["steps"][0] == 0 and document["steps"][-1] == 2999
    assert document["lr"][:2] == cosine.values("plot/cosine@1", 2)
    assert document["lr"][-1] == pytest.approx(0.09)
    short = stepsize("plot", "plot/cosine", "--stop", "5", "--width", "10").out
    assert short.splitlines()[-1].split() == ["0", "4", "step"]


def test_log_scale(stepsize, registry):
    registry.publish("plot/decay", {"type": "linear", "start": 0.1, "end": 0.001, "steps": 100})
    result = stepsize("plot", "plot/decay", "--log", "--height", "9")
    assert result.code == 0
    labels = [label for label, _ in chart_rows(result.out) if label]
    assert labels == ["0.1", "0.01", "0.001"]
    registry.publish("plot/zero", {"type": "linear", "start": 0.0, "end": 0.0, "steps": 10})
    zero = stepsize("plot", "plot/zero", "--log")
    assert zero.code == 2 and "log scale needs a positive learning rate" in zero.err


def test_png_with_matplotlib(stepsize, cosine, tmp_path):
    import matplotlib  # noqa: F401  (fails loudly when the test extras are missing)

    path = tmp_path / "cosine.png"
    result = stepsize("plot", "plot/cosine", "--output", str(path))
    assert result.code == 0 and result.out.startswith(f"{path} (plot/cosine@1")
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (800, 400) and len(data) > 10_000
    answer = stepsize("plot", "plot/cosine", "--output", str(tmp_path / "b.png"), "--json")
    document = answer.json()
    assert document["output"].endswith("b.png") and document["bytes"] > 10_000


def test_png_that_cannot_be_written_is_one_line(stepsize, cosine, tmp_path):
    result = stepsize("plot", "plot/cosine", "--output", str(tmp_path / "no" / "x.png"))
    assert result.code == 1 and "No such file or directory" in result.err
