"""Settings: the one reader of the environment, and production safety."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import ConfigError, Settings
from core.devkeys import with_dev_keys


def test_from_env_reads_prefixed_variables_and_coerces_types() -> None:
    settings = Settings.from_env(
        {
            "REPLYGUARD_DATABASE_URL": "postgresql://db/x",
            "REPLYGUARD_PROXY_HOPS": "2",
            "REPLYGUARD_BROKER_TIMEOUT_SECONDS": "0.5",
            "PORT": "9000",
            "UNRELATED": "x",
        }
    )
    assert settings.database_url == "postgresql://db/x"
    assert settings.proxy_hops == 2
    assert settings.broker_timeout_seconds == 0.5
    assert settings.port == 9000


def test_from_env_rejects_bad_numbers() -> None:
    with pytest.raises(ConfigError, match="REPLYGUARD_PROXY_HOPS"):
        Settings.from_env({"REPLYGUARD_PROXY_HOPS": "many"})


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(ConfigError) as info:
        Settings(env="production").check_production_safety()
    message = str(info.value)
    assert "REPLYGUARD_SECRET_KEY" in message and "REPLYGUARD_EMAIL_KEYS" in message
    assert "PostgreSQL" in message
    with pytest.raises(ConfigError):
        with_dev_keys(Settings(env="production", database_url="postgresql://x/y"))


def test_dev_keys_are_generated_once_into_the_instance_folder(tmp_path: Path) -> None:
    first = with_dev_keys(Settings(instance_path=str(tmp_path)))
    second = with_dev_keys(Settings(instance_path=str(tmp_path)))
    assert first.email_keys == second.email_keys and first.email_keys.startswith("dev1:")
    assert first.index_key == second.index_key and first.secret_key != "dev"
    path = tmp_path / "dev-keys.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert set(json.loads(path.read_text())) == {"email_keys", "index_key", "secret_key"}
