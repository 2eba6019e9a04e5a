"""The distributions declare ranges; the lock files pin what the tests and `make run` use;
the minimal environment sits exactly on the client's lower bounds."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

REPOSITORY = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("torch", "tensorflow", "tensorflow-cpu", "keras", "transformers", "jax", "jaxlib")


def dependencies(distribution: str) -> list[Requirement]:
    project = tomllib.loads((REPOSITORY / distribution / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project["dependencies"]]


def locked(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPOSITORY / "requirements" / name).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_both_distributions_declare_ranges_not_pins() -> None:
    for distribution in ("service", "client"):
        for requirement in dependencies(distribution):
            operators = {spec.operator for spec in requirement.specifier}
            assert "==" not in operators and ">=" in operators, (distribution, requirement)


def test_the_client_accepts_numpy_1_and_2() -> None:
    (numpy,) = [r for r in dependencies("client") if r.name == "numpy"]
    assert numpy.specifier.contains("1.24.0") and numpy.specifier.contains("2.4.6")


def test_the_minimal_environment_is_the_clients_lower_bounds() -> None:
    lower = {
        r.name: Version(spec.version)
        for r in dependencies("client")
        for spec in r.specifier
        if spec.operator == ">="
    }
    assert {name: Version(v) for name, v in locked("client-min.txt").items()} == lower


def test_the_server_lock_has_no_framework_and_the_test_lock_keeps_torch_2_13_0() -> None:
    server = locked("server.txt")
    assert "fastapi" in server and "uvicorn" in server and "uvloop" in server
    assert not set(FRAMEWORKS) & set(server)
    test = locked("test.txt")
    assert test["torch"].split("+")[0] == "2.13.0"
    assert "tensorflow-cpu" in test and "tensorflow" not in test
    for name in ("jax", "jaxlib", "accelerate", "lightning", "matplotlib", "playwright"):
        assert name in test, name
    for name in ("schemathesis", "uvloop", "httptools", "psycopg-binary"):
        assert name in test, name


def test_the_locks_satisfy_the_declared_ranges() -> None:
    for distribution, lock in (("service", "server.txt"), ("client", "test.txt")):
        pins = locked(lock)
        for requirement in dependencies(distribution):
            assert requirement.specifier.contains(pins[requirement.name], prereleases=True), (
                requirement,
                pins[requirement.name],
            )
