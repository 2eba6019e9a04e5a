"""The `stepsize` command against the real server."""

from __future__ import annotations

import json
import subprocess
import sys

from stepsize.cli import main, terminal_chart


def run(live, capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), client=live.client())
    out = capsys.readouterr()
    return code, out.out, out.err


def test_push_ls_show_lr_tag_diff(live, capsys, tmp_path):
    definition = tmp_path / "def.json"
    definition.write_text(json.dumps({"type": "linear", "start": 0.1, "end": 0.0, "steps": 100}))
    code, out, _ = run(live, capsys, "push", "cli/linear", str(definition), "--description", "x")
    assert code == 0 and out.startswith("cli/linear@1 sha256:") and "published" in out
    code, out, _ = run(live, capsys, "push", "cli/linear", str(definition))
    assert code == 0 and "unchanged" in out
    definition.write_text(json.dumps({"type": "linear", "start": 0.1, "end": 0.0, "steps": 200}))
    assert run(live, capsys, "push", "cli/linear", str(definition))[0] == 0

    code, out, _ = run(live, capsys, "tag", "cli/linear", "prod", "1")
    assert (code, out.strip()) == (0, "cli/linear:prod -> @1")
    code, out, _ = run(live, capsys, "ls", "--namespace", "cli")
    assert code == 0 and out.split() == ["cli/linear", "@2", "prod=@1"]
    code, out, _ = run(live, capsys, "show", "cli/linear:prod")
    shown = json.loads(out)
    assert shown["version"]["version"] == 1 and shown["summary"]["latest_version"] == 2

    assert run(live, capsys, "lr", "cli/linear:prod", "50")[1].strip() == "0.05"
    code, out, _ = run(
        live, capsys, "lr", "cli/linear@2", "--start", "0", "--stop", "200", "--stride", "100"
    )
    assert out.split() == ["0,0.1", "100,0.05"]

    code, out, _ = run(live, capsys, "diff", "cli/linear@1", "cli/linear@2", "--stop", "300")
    assert code == 0 and '-  "steps": 100' in out and '+  "steps": 200' in out
    assert "differ from step 1" in out


def test_plot_is_a_terminal_chart_and_png_needs_matplotlib(live, capsys, tmp_path):
    code, out, _ = run(live, capsys, "plot", "team/cosine:prod", "--stop", "1200", "--width", "40")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "team/cosine:prod" and "*" in out and len(lines) == 1 + 16 + 2
    try:
        import matplotlib  # noqa: F401

        has_matplotlib = True
    except ImportError:
        has_matplotlib = False
    code, out, err = run(
        live, capsys, "plot", "team/cosine:prod", "--output", str(tmp_path / "p.png")
    )
    if has_matplotlib:
        assert code == 0 and (tmp_path / "p.png").stat().st_size > 0
    else:
        assert code == 1 and "matplotlib" in err


def test_errors_are_one_line(live, capsys):
    code, _, err = run(live, capsys, "show", "team/missing")
    assert code == 1 and err.startswith("stepsize: error: 404")
    code, _, err = run(live, capsys, "lr", "team/cosine")
    assert code == 1 and "--stop" in err


def test_terminal_chart_shape():
    import numpy as np

    chart = terminal_chart(
        np.arange(100), np.linspace(1.0, 0.0, 100), width=20, height=5, log=False
    )
    rows = [row.split("|", 1) for row in chart.splitlines()[:5]]
    assert rows[0][0].strip() == "1" and rows[4][0].strip() == "0"
    assert rows[0][1].startswith("*") and rows[0][1].endswith(" ")  # high at the start
    assert rows[4][1].startswith(" ") and rows[4][1].endswith("*")  # low at the end
    assert all(len(cells) == 20 for _, cells in rows)


def test_console_script_is_installed(live):
    out = subprocess.run(
        [sys.executable, "-m", "stepsize.cli", "--url", live.url, "lr", "team/cosine@1", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and float(out.stdout) == 0.1
