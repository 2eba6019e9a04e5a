"""Bad input to every subcommand of `stepsize`: one clear line on standard error, exit 1
(the command ran and failed) or 2 (the command line is wrong), never a traceback (the
`stepsize` fixture checks both for every run)."""

from __future__ import annotations

import json

import pytest

from tests.support.live_server import free_port

LINEAR = {"type": "linear", "start": 0.1, "end": 0.0, "steps": 100}


@pytest.fixture(scope="module")
def known(registry):
    registry.publish("errs/known", LINEAR)
    registry.publish("errs/known", {**LINEAR, "steps": 50})
    return registry


@pytest.fixture
def definition(write_json):
    return write_json("linear.json", LINEAR)


def every_subcommand(ref: str, path: str) -> dict[str, list[str]]:
    """One valid command line of each subcommand, about `ref` (NS/NAME)."""
    return {
        "push": ["push", ref, path],
        "amend": ["amend", f"{ref}@1", "300", path],
        "validate": ["validate", path],
        "ls": ["ls"],
        "show": ["show", ref],
        "lr": ["lr", ref, "3"],
        "tag": ["tag", ref, "prod", "1"],
        "untag": ["untag", ref, "prod"],
        "archive": ["archive", ref, "--yes"],
        "diff": ["diff", f"{ref}@1", f"{ref}@2"],
        "plot": ["plot", ref],
    }


SUBCOMMANDS = list(every_subcommand("a/b", "x.json"))


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_server_down(stepsize, registry, definition, subcommand):
    dead = f"http://127.0.0.1:{free_port()}"
    args = every_subcommand("errs/known", definition)[subcommand]
    result = stepsize("--url", dead, *args)
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("stepsize: error: ") and "unreachable" in result.err
    assert dead in result.err


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_wrong_token(stepsize, known, definition, subcommand):
    args = every_subcommand("errs/known", definition)[subcommand]
    result = stepsize("--token", "not-a-token", *args)
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("stepsize: error: 401 ")


@pytest.mark.parametrize("subcommand", ["push", "tag", "untag", "archive"])
def test_writes_need_a_token_with_write_scope(stepsize, known, definition, subcommand):
    args = every_subcommand("errs/known", definition)[subcommand]
    if subcommand == "untag":
        assert stepsize("tag", "errs/known", "prod", "1").code == 0
    reader = known.server.create_token("read", description="cli reader")
    result = stepsize("--token", reader, *args)
    assert result.code == 1 and result.err.startswith("stepsize: error: 403 ")
    anonymous = stepsize(*args, env=known.env(STEPSIZE_TOKEN=""))
    assert anonymous.code == 1 and anonymous.err.startswith("stepsize: error: 401 ")


@pytest.mark.parametrize("subcommand", ["show", "lr", "tag", "untag", "archive", "diff", "plot"])
def test_unknown_schedule(stepsize, registry, definition, subcommand):
    args = every_subcommand("errs/missing", definition)[subcommand]
    result = stepsize(*args)
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("stepsize: error: 404 ")


@pytest.mark.parametrize("ref", ["errs/known@9", "errs/known:nope"])
@pytest.mark.parametrize("subcommand", ["show", "lr", "plot"])
def test_unknown_version_or_tag(stepsize, known, subcommand, ref):
    args = {"show": ["show", ref], "lr": ["lr", ref, "0"], "plot": ["plot", ref]}[subcommand]
    result = stepsize(*args)
    missing = "9" if "@" in ref else "'nope'"
    assert result.code == 1 and result.err.startswith("stepsize: error: ")
    assert missing in result.err  # names the missing version or tag


@pytest.mark.parametrize("subcommand", ["push", "validate"])
def test_missing_file(stepsize, registry, tmp_path, subcommand):
    missing = str(tmp_path / "missing.json")
    args = every_subcommand("errs/new", missing)[subcommand]
    result = stepsize(*args)
    assert result.code == 2
    assert result.err == f"stepsize: error: cannot read {missing}: No such file or directory\n"


@pytest.mark.parametrize("subcommand", ["push", "validate"])
def test_invalid_json(stepsize, registry, tmp_path, subcommand):
    path = tmp_path / "broken.json"
    path.write_text('{"type": "linear", "start": 0.1,')
    result = stepsize(*every_subcommand("errs/new", str(path))[subcommand])
    assert result.code == 2
    assert result.err.startswith(f"stepsize: error: {path} is not valid JSON: ")
    assert "line 1 column" in result.err


@pytest.mark.parametrize("subcommand", ["show", "lr", "tag", "untag", "archive", "diff", "plot"])
def test_malformed_reference(stepsize, registry, definition, subcommand):
    args = every_subcommand("Not A Ref", definition)[subcommand]
    result = stepsize(*args)
    assert result.code == 2 and "must look like 'namespace/name'" in result.err


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["ls", "--bogus"],
        ["lr", "errs/known", "--stop", "ten"],
        ["tag", "errs/known", "prod"],
        ["push"],
    ],
)
def test_usage_errors_exit_2(stepsize, registry, args):
    result = stepsize(*args)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("stepsize: error: ") and "--help" in result.err


def test_errors_in_json_mode_are_a_json_line(stepsize, registry):
    result = stepsize("show", "errs/missing", "--json")
    assert result.code == 1 and result.out == ""
    error = json.loads(result.err)
    assert error["exit_status"] == 1 and error["type"] == "NotFound"
    assert error["code"] == "schedule_not_found" and error["error"].startswith("404 ")


def test_url_and_token_override_the_environment(stepsize, known):
    dead_env = known.env(STEPSIZE_URL=f"http://127.0.0.1:{free_port()}", STEPSIZE_TOKEN="bad")
    result = stepsize(
        "--url", known.url, "--token", known.token, "tag", "errs/known", "ov", "1", env=dead_env
    )
    assert result.code == 0 and "(new tag)" in result.out
