"""docker-compose.yml and service/Dockerfile, checked as files: there is no Docker engine
here, so what only `docker compose up` could show (the images building, the official
nginx image rendering the template) is not run; the proxy config itself runs in
test_proxy.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
INTERPOLATION = re.compile(r"^\$\{[A-Z_]+(:?-[^}]*)?\}$")
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((REPOSITORY / "docker-compose.yml").read_text())
    assert isinstance(document, dict)
    return document


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_services_and_replicas(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "registry", "proxy"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["proxy"]["image"].startswith("nginx:")
    registry = services["registry"]
    assert registry["build"]["dockerfile"] == "service/Dockerfile"
    assert (REPOSITORY / registry["build"]["context"] / "service/Dockerfile").is_file()
    assert registry["deploy"]["replicas"] == 2
    assert "ports" not in registry  # reached through the proxy only
    assert registry["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["proxy"]["depends_on"]["registry"]["condition"] == "service_healthy"


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    services = compose["services"]
    checks = {name: " ".join(map(str, s["healthcheck"]["test"])) for name, s in services.items()}
    assert "pg_isready" in checks["postgres"]
    assert "/readyz" in checks["registry"]
    assert f":{environment(services['registry'])['STEPSIZE_PORT']}/readyz" in checks["registry"]
    assert "/healthz" in checks["proxy"]


def test_postgres_keeps_its_data_in_a_volume(compose: dict[str, Any]) -> None:
    mounts = compose["services"]["postgres"]["volumes"]
    named = [m.split(":")[0] for m in mounts if m.endswith(":/var/lib/postgresql/data")]
    assert named and named[0] in compose["volumes"]


def test_no_literal_secrets(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            if SECRET_KEY.search(key):
                assert INTERPOLATION.match(value), f"{name}.{key} is a literal: {value!r}"
            credentials = re.match(r"^[a-z+]+://([^@/]*)@", value)
            if credentials:
                password = credentials.group(1).partition(":")[2]
                assert INTERPOLATION.match(password), f"{name}.{key} has a literal password"
    database_url = environment(compose["services"]["registry"])["STEPSIZE_DATABASE_URL"]
    assert "${POSTGRES_PASSWORD" in database_url
    assert environment(compose["services"]["postgres"])["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD"
    )


def test_the_proxy_mounts_the_tested_template_with_all_its_variables(
    compose: dict[str, Any],
) -> None:
    proxy = compose["services"]["proxy"]
    template = "deploy/nginx/default.conf.template"
    assert f"./{template}:/etc/nginx/templates/default.conf.template:ro" in proxy["volumes"]
    wanted = set(re.findall(r"\$\{([A-Z_]+)\}", (REPOSITORY / template).read_text()))
    env = environment(proxy)
    assert wanted and wanted <= set(env)
    assert all(re.match(env["NGINX_ENVSUBST_FILTER"], variable) for variable in wanted)
    assert env["STEPSIZE_UPSTREAM_SERVERS"] == "server registry:8000;"


def test_the_image_is_slim_unprivileged_and_checks_readiness() -> None:
    dockerfile = (REPOSITORY / "service/Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert "pip install -r requirements/server.txt" in dockerfile
    assert re.search(r"^HEALTHCHECK .*\n.*/readyz", dockerfile, re.MULTILINE)
    assert re.search(r'^CMD \["stepsize-server", "serve"\]$', dockerfile, re.MULTILINE)
    assert "STEPSIZE_WORKERS=0" in dockerfile  # one worker per core in the container
    ignore = (REPOSITORY / "service/Dockerfile.dockerignore").read_text().splitlines()
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[:3] == ["*", "!requirements/server.txt", "!service/"]  # not the 3 GB .venv
