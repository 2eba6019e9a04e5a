"""`stepsize ls`, `show` and `lr` against a real server."""

from __future__ import annotations

import pytest

LINEAR = {"type": "linear", "start": 0.1, "end": 0.0, "steps": 100}
LONGER = {"type": "linear", "start": 0.1, "end": 0.0, "steps": 200}
# Counted in epochs, without its own steps_per_epoch: lr queries must pass it.
PER_EPOCH = {
    "type": "epochs",
    "schedule": {"type": "piecewise", "boundaries": [2], "values": [0.1, 0.01]},
}


@pytest.fixture(scope="module")
def published(registry):
    registry.publish("read/linear", LINEAR)
    registry.publish("read/linear", LONGER)
    registry.publish("read/other", LINEAR)
    return registry


def test_ls_lists_names_versions_and_tags(stepsize, published):
    assert stepsize("tag", "read/linear", "prod", "1").code == 0
    result = stepsize("ls", "--namespace", "read")
    assert result.code == 0
    rows = [line.split("\t") for line in result.out.splitlines()]
    assert [(r[0], r[1]) for r in rows] == [("read/linear", "@2"), ("read/other", "@1")]
    assert rows[0][-1] == "prod=@1"
    as_json = stepsize("ls", "--namespace", "read", "--json").json()
    assert [(i["namespace"], i["name"], i["latest_version"]) for i in as_json] == [
        ("read", "linear", 2),
        ("read", "other", 1),
    ]
    limited = stepsize("ls", "--namespace", "read", "--limit", "1", "--json").json()
    assert len(limited) == 1
    searched = stepsize("ls", "-q", "other", "--json").json()
    assert [i["name"] for i in searched] == ["other"]


def test_show_resolves_tags_and_lists_history(stepsize, published):
    stepsize("tag", "read/linear", "show", "1")
    result = stepsize("show", "read/linear:show")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "read/linear@1"
    assert "  version     1 of 2" in lines and "  horizon     100" in lines
    assert '    "steps": 100' in result.out
    history = lines[lines.index("versions:") + 1 :]
    assert [h.split()[0] for h in history] == ["@2", "@1"]

    shown = stepsize("show", "read/linear", "--json").json()
    assert shown["version"]["version"] == 2 and shown["version"]["definition"]["steps"] == 200
    assert shown["summary"]["latest_version"] == 2
    assert [v["version"] for v in shown["versions"]] == [2, 1]


def test_lr_of_a_step_and_a_range(stepsize, published):
    one = stepsize("lr", "read/linear@1", "50")
    assert one.code == 0 and float(one.out) == published.values("read/linear@1", 51)[50]
    ranged = stepsize("lr", "read/linear@2", "--start", "0", "--stop", "200", "--stride", "100")
    assert ranged.out.split() == ["0,0.1", "100,0.05"]
    answer = stepsize("lr", "read/linear", "--stop", "3", "--json").json()
    assert answer["version"] == 2 and answer["lr"] == published.values("read/linear@2", 3)
    single = stepsize("lr", "read/linear:prod", "0", "--json").json()
    assert (single["version"], single["step"], single["lr"]) == (1, 0, 0.1)


def test_lr_with_steps_per_epoch(stepsize, registry):
    registry.publish("read/epochs", PER_EPOCH)
    without = stepsize("lr", "read/epochs", "250")
    assert without.code == 1 and "steps_per_epoch" in without.err
    ranged = stepsize(
        "lr",
        "read/epochs",
        "--start",
        "150",
        "--stop",
        "250",
        "--stride",
        "50",
        "--steps-per-epoch",
        "100",
    )
    assert ranged.code == 0 and ranged.out.split() == ["150,0.1", "200,0.01"]


def test_lr_needs_a_step_or_a_range(stepsize, published):
    neither = stepsize("lr", "read/linear")
    assert neither.code == 2 and "--stop" in neither.err
    both = stepsize("lr", "read/linear", "5", "--stop", "9")
    assert both.code == 2
    negative = stepsize("lr", "read/linear", "-3")
    assert negative.code == 2


def test_json_before_the_command_too(stepsize, published):
    before = stepsize("--json", "ls", "--namespace", "read")
    after = stepsize("ls", "--namespace", "read", "--json")
    assert before.code == 0 and before.json() == after.json()
    assert {"linear", "other"} <= {item["name"] for item in before.json()}
