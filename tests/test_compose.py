"""docker-compose.yml: rendered by `docker-compose config`, it has the production shape
(PostgreSQL, Redis with AOF and noeviction, a one-shot migration, API, scalable workers,
one beat), and it refuses to render without the secrets.

Docker itself is not needed: `config` only validates and interpolates the file. The
subprocess gets a clean environment (dummy secrets, an empty env file), so neither the
caller's variables nor a local `.env` can make these tests pass or fail.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from api import gunicorn_conf

COMPOSE_FILE = Path(__file__).resolve().parents[1] / "docker-compose.yml"
SECRETS = {
    "POSTGRES_PASSWORD": "dummy-db-password",
    "REPLYGUARD_SECRET_KEY": "dummy-secret-key",
    "REPLYGUARD_EMAIL_KEYS": "k1:ZHVtbXktZW1haWwta2V5LWZvci10ZXN0cy0wMDAwMDA=",
    "REPLYGUARD_INDEX_KEY": "ZHVtbXktaW5kZXgta2V5LWZvci10ZXN0cy0wMDAwMDA=",
}
APP_SERVICES = ("migrate", "api", "worker", "webhooks", "beat")
LONG_RUNNING_APP_SERVICES = ("api", "worker", "webhooks", "beat")
# docker-compose v1 is a Python program running on PyYAML; its interpreter converts.
YAML_TO_JSON = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"


def compose_binary() -> str:
    """Path of docker-compose; a missing one fails the test (it is a declared system dep)."""
    found = shutil.which("docker-compose")
    if found is None:
        pytest.fail("docker-compose is not installed; `make system-deps` installs it")
    return found


def compose_python(binary: str) -> list[str] | None:
    """The interpreter command from docker-compose's shebang (v1), or None (v2, a binary)."""
    with open(binary, "rb") as handle:
        first = handle.readline(512)
    if not first.startswith(b"#!") or b"python" not in first:
        return None
    return shlex.split(first[2:].decode().strip())


def run_compose(
    args: list[str], secrets: Mapping[str, str], tmp_dir: Path
) -> subprocess.CompletedProcess[str]:
    """`docker-compose --env-file <empty> -f docker-compose.yml <args>` in a clean env."""
    empty_env_file = tmp_dir / "empty.env"
    empty_env_file.write_text("")
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(tmp_dir), **secrets}
    return subprocess.run(
        [compose_binary(), "--env-file", str(empty_env_file), "-f", str(COMPOSE_FILE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def render(secrets: Mapping[str, str], tmp_dir: Path) -> dict[str, Any]:
    """The fully interpolated configuration, as plain data."""
    binary = compose_binary()
    python = compose_python(binary)
    args = ["config"] if python is not None else ["config", "--format", "json"]
    result = run_compose(args, secrets, tmp_dir)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    if python is None:
        rendered: dict[str, Any] = json.loads(result.stdout)
        return rendered
    converted = subprocess.run(
        [*python, "-c", YAML_TO_JSON],
        input=result.stdout,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert converted.returncode == 0, f"could not parse the rendered YAML:\n{converted.stderr}"
    parsed: dict[str, Any] = json.loads(converted.stdout)
    return parsed


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return render(SECRETS, tmp_path_factory.mktemp("compose"))


@pytest.fixture(scope="module")
def services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = config["services"]
    return found


def argv(value: str | list[str]) -> list[str]:
    """A command or healthcheck test as a list, whichever form compose rendered."""
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment as a dict (compose may render a map or KEY=VALUE lines)."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw)
    return {key: str(value) for key, value in raw.items() if value is not None}


def option(args: list[str], name: str) -> str:
    """The value following option `name` in an argv list."""
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]


def volume_source(mount: str | Mapping[str, Any]) -> str:
    return mount.split(":", 1)[0] if isinstance(mount, str) else str(mount["source"])


def test_all_services_are_defined(services: dict[str, dict[str, Any]]) -> None:
    assert {"postgres", "redis", *APP_SERVICES} <= set(services)


def test_redis_keeps_every_message(services: dict[str, dict[str, Any]]) -> None:
    redis = services["redis"]
    command = argv(redis["command"])
    assert command[0] == "redis-server"
    assert option(command, "--appendonly") == "yes"
    assert option(command, "--appendfsync") == "everysec"
    assert option(command, "--maxmemory-policy") == "noeviction"
    assert any(volume_source(mount) == "redis-data" for mount in redis["volumes"])


def test_databases_keep_their_data_in_named_volumes(
    config: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    assert {"postgres-data", "redis-data"} <= set(config["volumes"])
    assert services["postgres"]["image"].startswith("postgres:")
    mounts = {volume_source(mount) for mount in services["postgres"]["volumes"]}
    assert "postgres-data" in mounts


def test_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    postgres = argv(services["postgres"]["healthcheck"]["test"])
    assert "pg_isready" in postgres
    redis = argv(services["redis"]["healthcheck"]["test"])
    assert redis[-2:] == ["redis-cli", "ping"]
    api = " ".join(argv(services["api"]["healthcheck"]["test"]))
    assert "urllib.request" in api and "http://127.0.0.1:8000/healthz" in api


def test_migration_runs_once_before_the_app(services: dict[str, dict[str, Any]]) -> None:
    migrate = services["migrate"]
    assert argv(migrate["command"]) == ["replyguard", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", LONG_RUNNING_APP_SERVICES)
def test_app_waits_for_healthy_backends_and_migrations(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    depends = services[name]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_runs_in_production_on_postgres_and_redis(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = environment(services[name])
    assert env["REPLYGUARD_ENV"] == "production"
    assert env["REPLYGUARD_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["REPLYGUARD_DATABASE_URL"]
    assert SECRETS["POSTGRES_PASSWORD"] in env["REPLYGUARD_DATABASE_URL"]
    assert env["REPLYGUARD_BROKER_URL"] == "redis://redis:6379/0"
    for key in ("REPLYGUARD_SECRET_KEY", "REPLYGUARD_EMAIL_KEYS", "REPLYGUARD_INDEX_KEY"):
        assert env[key] == SECRETS[key], f"{name}: {key} is not taken from the environment"


def test_app_services_share_one_image_and_configuration(
    services: dict[str, dict[str, Any]],
) -> None:
    first = services[APP_SERVICES[0]]
    for name in APP_SERVICES[1:]:
        assert services[name]["image"] == first["image"], name
        assert environment(services[name]) == environment(first), name


def test_only_the_api_publishes_ports(services: dict[str, dict[str, Any]]) -> None:
    assert services["api"].get("ports"), "the api must publish its port"
    publishing = {name for name, service in services.items() if service.get("ports")}
    assert publishing == {"api"}


def test_services_can_be_scaled(services: dict[str, dict[str, Any]]) -> None:
    named = {name for name, service in services.items() if "container_name" in service}
    assert not named, f"container_name prevents --scale: {sorted(named)}"


def test_api_runs_gunicorn_without_logging_client_addresses(
    services: dict[str, dict[str, Any]],
) -> None:
    command = argv(services["api"]["command"])
    assert command[0] == "gunicorn"
    assert command[-1] == "api:create_app()"
    assert option(command, "--bind") == "0.0.0.0:8000"
    assert int(option(command, "--workers")) >= 2
    # Without an explicit format gunicorn's default one starts with the client address;
    # the shared config module sets ours.
    assert option(command, "--config") == "python:api.gunicorn_conf"
    assert "--access-logformat" not in command
    log_format = gunicorn_conf.access_log_format
    assert "%(h)s" not in log_format
    assert "forwarded" not in log_format.lower()
    assert "%({" not in log_format  # no request headers or environ values at all


def test_worker_consumes_both_queues(services: dict[str, dict[str, Any]]) -> None:
    command = argv(services["worker"]["command"])
    assert command[:4] == ["celery", "-A", "workers.celery_app", "worker"]
    assert option(command, "-Q") == "moderation,maintenance"
    assert int(option(command, "--concurrency")) >= 1


def test_webhooks_have_their_own_worker(services: dict[str, dict[str, Any]]) -> None:
    """A slow receiver holds a webhook worker's thread, never a moderation worker."""
    command = argv(services["webhooks"]["command"])
    assert command[:4] == ["celery", "-A", "workers.celery_app", "worker"]
    assert option(command, "-Q") == "webhooks"
    assert option(command, "--pool") == "threads"
    assert int(option(command, "--concurrency")) > 2  # above the per-endpoint cap
    assert "webhooks" not in option(argv(services["worker"]["command"]), "-Q").split(",")
    env = environment(services["webhooks"])
    assert "REPLYGUARD_WEBHOOKS_ALLOW_LOOPBACK" not in env  # production: never loopback


def test_beat_runs_the_schedule(services: dict[str, dict[str, Any]]) -> None:
    command = argv(services["beat"]["command"])
    assert command[:4] == ["celery", "-A", "workers.celery_app", "beat"]


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_rendering_refuses_missing_secrets(tmp_path: Path, missing: str, value: str | None) -> None:
    secrets = {key: val for key, val in SECRETS.items() if key != missing}
    if value is not None:
        secrets[missing] = value
    result = run_compose(["config"], secrets, tmp_path)
    assert result.returncode != 0, f"rendered without {missing}"
    assert f"set {missing}" in result.stderr, result.stderr
