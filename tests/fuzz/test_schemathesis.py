"""Fuzzing (issue 13 item 5): schemathesis against the checked-in openapi.yaml and a live
server (SQLite), every operation, the stateful links it infers, every check on but one (below).

Two runs share the server: every operation but token revocation with the admin token,
then token revocation alone with a token of its own (a fuzzer revoking the token it
authenticates with would turn the rest of its run into 401s). The seed is fixed and the
generation deterministic, so a run is reproducible; `schemathesis.toml` holds the one
widened oracle and the one check whose premise the API's contract contradicts (a DELETE
that archives), and why."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.live_server import LiveServer

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
REVOKE = "/v1/tokens/{token_id}"
SEED = "20261201"
MIN_CASES = 1_000
# Per operation and phase; the phases run are examples, fuzzing and stateful. (The
# coverage phase alone generates ~44,000 cases, ~4 minutes here: too slow for make test.)
MAX_EXAMPLES = 120


def _schemathesis(server: LiveServer, token: str, *args: str) -> tuple[int, str]:
    """Run the schemathesis CLI on openapi.yaml against `server`; (exit code, output)."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        str(ROOT / "openapi.yaml"),
        "--url",
        server.url,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        # Why: schemathesis.toml, [checks.use_after_free] (a DELETE that archives, SPEC 4).
        "--exclude-checks",
        "use_after_free",
        "--phases",
        "examples,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--no-color",
        *args,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=server.directory
    )
    return done.returncode, done.stdout + done.stderr


def _operation_count() -> int:
    """How many operations (method and path) openapi.yaml documents."""
    document = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return sum(len(methods & item.keys()) for item in document["paths"].values())


def _generated(output: str) -> int:
    """The `N generated` count of a run's summary."""
    found = re.search(r"(\d+) generated", output)
    assert found, output[-3000:]
    return int(found.group(1))


def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "server") as server:
        code, output = _schemathesis(server, server.admin_token, "--exclude-path", REVOKE)
        assert code == 0, output[-12000:]
        # Every operation of the document but the revocation (run alone below).
        tested = f"Tested: {_operation_count() - 1}"
        assert "API Operations:" in output and tested in output, output[-3000:]
        cases = _generated(output)
        code, revoke_output = _schemathesis(
            server, server.create_token("admin", description="fuzz revoke"),
            "--include-path", REVOKE,
        )  # fmt: skip
        assert code == 0, revoke_output[-12000:]
        cases += _generated(revoke_output)
    print(f"schemathesis: {cases} generated cases, no failure")  # the figure for the note
    assert cases >= MIN_CASES, cases
