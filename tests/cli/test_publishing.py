"""`stepsize push` and `stepsize validate` against a real server."""

from __future__ import annotations

LINEAR = {"type": "linear", "start": 0.1, "end": 0.0, "steps": 100}
# A likely typo: a cosine starting at lr 3 instead of 0.3.
TYPO = {"type": "cosine", "start": 3, "end": 0.0, "steps": 1000}


def test_push_publishes_then_answers_unchanged(stepsize, write_json, registry):
    path = write_json("linear.json", LINEAR)
    result = stepsize("push", "pub/linear", path, "--description", "first", "--label", "team=a")
    assert result.code == 0 and result.err == ""
    ref, digest, state = result.out.split(maxsplit=2)
    assert ref == "pub/linear@1" and digest.startswith("sha256:") and state.strip() == "published"
    again = stepsize("push", "pub/linear", path)
    assert again.code == 0 and again.out.split()[:2] == [ref, digest]
    assert "unchanged" in again.out
    summary = registry.summary("pub/linear")
    assert summary["latest_version"] == 1 and summary["version_count"] == 1


def test_push_reads_standard_input_and_answers_json(stepsize, registry):
    result = stepsize(
        "push",
        "pub/stdin",
        "-",
        "--json",
        stdin='{"type": "linear", "start": 0.2, "end": 0.0, "steps": 10}',
    )
    assert result.code == 0
    answer = result.json()
    assert answer["schedule"] == "pub/stdin" and answer["version"] == 1
    assert answer["created"] is True and answer["warnings"] == []
    assert registry.values("pub/stdin@1", 2) == [0.2, 0.18]


def test_push_warns_about_a_likely_typo_and_strict_refuses_it(stepsize, write_json, registry):
    path = write_json("typo.json", TYPO)
    strict = stepsize("push", "pub/typo", path, "--strict")
    assert strict.code == 1 and strict.out == ""
    assert strict.err.startswith("stepsize: error: not published: 1 validation warning(s)")
    assert "above 1.0" in strict.err
    assert httpx_status(registry, "pub/typo") == 404  # nothing was stored

    lenient = stepsize("push", "pub/typo", path)
    assert lenient.code == 0 and lenient.out.startswith("pub/typo@1 ")
    assert lenient.err.startswith("stepsize: warning: the learning rate reaches 3")
    assert "above 1.0" in lenient.err
    as_json = stepsize("push", "pub/typo", path, "--json")
    assert as_json.code == 0 and as_json.err == ""
    assert any("above 1.0" in w for w in as_json.json()["warnings"])


def test_push_of_an_invalid_definition_names_the_pointer(stepsize, write_json):
    path = write_json("bad.json", {"type": "linear", "start": 0.1, "end": 0.0, "steps": -5})
    result = stepsize("push", "pub/bad", path)
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("stepsize: error: 422") and "/steps" in result.err


def test_push_refuses_a_version_in_the_name_and_a_bad_label(stepsize, write_json):
    path = write_json("linear.json", LINEAR)
    pinned = stepsize("push", "pub/linear@2", path)
    assert pinned.code == 2 and "NAMESPACE/NAME" in pinned.err
    label = stepsize("push", "pub/linear", path, "--label", "nolabel")
    assert label.code == 2 and "KEY=VALUE" in label.err


def test_validate_reports_digest_horizon_and_warnings(stepsize, write_json):
    ok = stepsize("validate", write_json("linear.json", LINEAR))
    assert ok.code == 0 and ok.err == ""
    assert ok.out.startswith("valid sha256:") and "constant from step 100" in ok.out
    answer = stepsize("validate", write_json("linear.json", LINEAR), "--json").json()
    assert answer["valid"] is True and answer["horizon"] == 100 and answer["warnings"] == []
    assert answer["normalized"]["type"] == "linear"

    typo = write_json("typo.json", TYPO)
    warned = stepsize("validate", typo)
    assert warned.code == 0 and "above 1.0" in warned.err
    strict = stepsize("validate", typo, "--strict")
    assert strict.code == 1 and "above 1.0" in strict.err

    invalid = stepsize("validate", write_json("bad.json", {"type": "nope"}))
    assert invalid.code == 1 and invalid.err.startswith("stepsize: error: 422")


def httpx_status(registry, ref: str) -> int:
    import httpx

    return httpx.get(f"{registry.url}/v1/schedules/{ref}").status_code
