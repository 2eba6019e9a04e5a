"""`stepsize amend` against a real server."""

from __future__ import annotations

from tests.support.live_server import free_port

BASE = {"type": "cosine", "start": 0.1, "end": 0.0, "steps": 1000}
COOLDOWN = {"type": "linear", "start": 0.02, "end": 0.0, "steps": 100}


def test_amend_publishes_a_version_equal_to_the_amended_one_before_from_step(
    stepsize, write_json, registry
):
    registry.publish("amend/cos", BASE)
    path = write_json("cooldown.json", COOLDOWN)
    result = stepsize("amend", "amend/cos@1", "300", path, "--description", "cool down")
    assert result.code == 0 and result.err == ""
    ref, digest, rest = result.out.split(maxsplit=2)
    assert ref == "amend/cos@2" and digest.startswith("sha256:")
    assert rest.strip() == "published: equal to amend/cos@1 before step 300"
    old, new = registry.values("amend/cos@1", 400), registry.values("amend/cos@2", 400)
    assert new[:300] == old[:300] and new[300] == 0.02 and new[301] != old[301]


def test_amend_answers_json_and_reads_standard_input(stepsize, registry):
    registry.publish("amend/json", BASE)
    result = stepsize(
        "amend", "amend/json@1", "50", "-", "--json", stdin='{"type": "constant", "value": 0.01}'
    )
    assert result.code == 0
    answer = result.json()
    assert answer["version"] == 2 and answer["created"] is True and answer["warnings"] == []
    assert answer["amends"] == {"version": 1, "from_step": 50}


def test_amend_needs_the_version_and_a_positive_from_step(stepsize, write_json, registry):
    registry.publish("amend/usage", BASE)
    path = write_json("cooldown.json", COOLDOWN)
    unpinned = stepsize("amend", "amend/usage", "300", path)
    assert unpinned.code == 2 and "NAMESPACE/NAME@VERSION" in unpinned.err
    zero = stepsize("amend", "amend/usage@1", "0", path)
    assert zero.code == 2
    unknown = stepsize("amend", "amend/usage@7", "300", path)
    assert unknown.code == 1 and unknown.err.startswith("stepsize: error: 404")
    assert registry.summary("amend/usage")["version_count"] == 1  # nothing was stored


def test_amend_strict_refuses_a_continuation_with_warnings(stepsize, write_json, registry):
    registry.publish("amend/strict", BASE)
    path = write_json("typo.json", {"type": "constant", "value": 3})
    strict = stepsize("amend", "amend/strict@1", "100", path, "--strict")
    assert strict.code == 1 and strict.out == ""
    assert strict.err.startswith("stepsize: error: not published: 1 validation warning(s)")
    assert registry.summary("amend/strict")["version_count"] == 1


def test_amend_fails_in_one_line_without_a_server_or_a_write_token(stepsize, write_json, registry):
    registry.publish("amend/auth", BASE)
    path = write_json("cooldown.json", COOLDOWN)
    args = ["amend", "amend/auth@1", "300", path]
    dead = f"http://127.0.0.1:{free_port()}"
    down = stepsize("--url", dead, *args)
    assert down.code == 1 and "unreachable" in down.err and dead in down.err
    wrong = stepsize("--token", "not-a-token", *args)
    assert wrong.code == 1 and wrong.err.startswith("stepsize: error: 401 ")
    reader = registry.server.create_token("read", description="cli reader")
    read_only = stepsize("--token", reader, *args)
    assert read_only.code == 1 and read_only.err.startswith("stepsize: error: 403 ")
    anonymous = stepsize(*args, env=registry.env(STEPSIZE_TOKEN=""))
    assert anonymous.code == 1 and anonymous.err.startswith("stepsize: error: 401 ")
    assert registry.summary("amend/auth")["version_count"] == 1
