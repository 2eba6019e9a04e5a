"""The public surface of the stepsize package, and what importing it costs."""

from __future__ import annotations

import subprocess
import sys

import networkx as nx
import pytest
import stepsize
from stepsize import errors
from stepsize.refs import Ref

from tests.test_import_cycles import PACKAGES, import_graph


def test_public_names_are_pinned():
    assert stepsize.__all__ == [
        "AuthError",
        "CacheError",
        "Client",
        "Conflict",
        "DiskCache",
        "InvalidRequest",
        "NotFound",
        "Published",
        "Ref",
        "Retry",
        "Schedule",
        "ScheduleUnavailable",
        "ServerError",
        "StepsizeError",
        "Unreachable",
        "__version__",
        "restore",
        "set_default_client",
    ]
    for name in stepsize.__all__:
        assert hasattr(stepsize, name), name


def test_exception_tree():
    assert errors.__all__ == sorted(errors.__all__)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.StepsizeError)
    for cls in (errors.InvalidRequest, errors.AuthError, errors.NotFound, errors.Conflict):
        assert issubclass(cls, errors.ServerError)
    assert not issubclass(errors.ScheduleUnavailable, errors.ServerError)


def test_importing_stepsize_imports_no_framework():
    code = (
        "import sys, stepsize, stepsize.torch; "
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_references():
    assert Ref.parse("vision/resnet50") == Ref("vision", "resnet50")
    assert Ref.parse("vision/resnet50@3").version == 3
    assert Ref.parse("vision/resnet50:prod").tag == "prod"
    assert str(Ref.parse("a.b/c_d-e:prod")) == "a.b/c_d-e:prod"
    for bad in (
        "resnet50",
        "vision/resnet50@0",
        "vision/resnet50@x",
        "Vision/r",
        "a/b:",
        "a/-b",
        3,
    ):
        with pytest.raises(ValueError, match="ref"):
            Ref.parse(bad)


def test_retry_validates_its_arguments():
    with pytest.raises(ValueError, match="attempts"):
        stepsize.Retry(attempts=0)
    with pytest.raises(ValueError, match="timeout"):
        stepsize.Retry(timeout=0)


def test_client_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("STEPSIZE_URL", "http://example.test:9/")
    monkeypatch.setenv("STEPSIZE_TOKEN", "secret-token")
    monkeypatch.setenv("STEPSIZE_CACHE_DIR", str(tmp_path / "here"))
    monkeypatch.setenv("STEPSIZE_OFFLINE", "true")
    client = stepsize.Client()
    assert client.url == "http://example.test:9"
    assert client.has_token and client.offline
    assert client.cache.root == tmp_path / "here"
    assert "secret-token" not in repr(client) + repr(client._http)


# The client's layers, top first: a module imports only modules of lower layers
# (STYLE.md: shims -> pinning -> curves -> transport -> errors; the shims never import
# client.py, and nothing imports the package's __init__).
LAYERS = [
    ["stepsize", "stepsize.cli.__main__"],
    ["stepsize.integrations.transformers", "stepsize.integrations.lightning"],
    ["stepsize.integrations"],
    ["stepsize.cli"],
    ["stepsize.cli.commands"],
    ["stepsize.cli.reading", "stepsize.cli.viewing", "stepsize.cli.writing"],
    ["stepsize.cli.app", "stepsize.cli.charts", "stepsize.cli.compare"],
    ["stepsize.cli.output"],
    ["stepsize.client"],
    ["stepsize.publishing"],
    ["stepsize.integrations.hf_schedulers"],
    ["stepsize.schedule"],
    ["stepsize.follow"],
    ["stepsize.agreement"],
    ["stepsize.keras", "stepsize.torch", "stepsize.distributed"],
    ["stepsize.torch_observe", "stepsize.keras_graph"],
    ["stepsize.observe"],
    ["stepsize.track"],
    ["stepsize.runs"],
    ["stepsize.pinning"],
    ["stepsize.settings"],
    ["stepsize.curves"],
    ["stepsize.prefetch"],
    ["stepsize.registry"],
    ["stepsize.transport", "stepsize.disk"],
    [
        "stepsize.errors",
        "stepsize.refs",
        "stepsize.steps",
        "stepsize.version",
        "stepsize.torch_definitions",
    ],
]


def test_imports_point_down_the_layers():
    graph = import_graph("stepsize", PACKAGES["stepsize"])
    layer = {module: i for i, modules in enumerate(LAYERS) for module in modules}
    assert set(layer) == set(graph.nodes), "every module has its layer"
    upward = [(a, b) for a, b in graph.edges if layer[a] >= layer[b]]
    assert not upward, f"imports that do not point down: {sorted(upward)}"
    for shim in ("stepsize.keras", "stepsize.torch", "stepsize.distributed"):
        assert "stepsize.client" not in nx.descendants(graph, shim)
