"""Development keys: generated once into an ignored instance file when none are configured.

Production never gets here: `Settings.check_production_safety` refuses to start without
real keys, and `with_dev_keys` refuses to generate any for a production Settings.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from core.config import ConfigError, Settings
from core.privacy import new_key_material

DEV_SECRET = Settings().secret_key  # the placeholder default that must be replaced

DEV_KEYS_FILE = "dev-keys.json"


def with_dev_keys(settings: Settings) -> Settings:
    """Return settings with keys filled from `<instance>/dev-keys.json`, creating it if needed."""
    if settings.email_keys and settings.index_key and settings.secret_key != DEV_SECRET:
        return settings
    if settings.is_production:
        raise ConfigError("production settings need real keys; development keys are refused")
    path = Path(settings.instance_path) / DEV_KEYS_FILE
    if path.exists():
        stored = json.loads(path.read_text())
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = {
            "email_keys": f"dev1:{new_key_material()}",
            "index_key": new_key_material(),
            "secret_key": secrets.token_urlsafe(32),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle)
    return settings.with_overrides(
        email_keys=settings.email_keys or stored["email_keys"],
        index_key=settings.index_key or stored["index_key"],
        secret_key=stored["secret_key"]
        if settings.secret_key == DEV_SECRET
        else settings.secret_key,
    )
