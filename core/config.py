"""One frozen Settings object: the only place that reads the environment.

Every variable is `REPLYGUARD_<FIELD NAME IN UPPER CASE>`; `PORT` is read too, for the
development server only. Tests and benchmarks build Settings directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Self


class ConfigError(Exception):
    """The configuration cannot run safely (e.g. production without real keys)."""


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"not a boolean: {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Every knob in one place, with the embedded (`make run`) defaults."""

    env: str = "development"  # development | test | production
    database_url: str = "sqlite:///instance/replyguard.sqlite3"
    broker_url: str = "redis://127.0.0.1:6379/0"
    secret_key: str = "dev"  # noqa: S105  (refused when env is production)
    # Email encryption keys: "kid:base64key[,kid:base64key...]"; the first one encrypts.
    email_keys: str = ""
    # HMAC key for the email/IP blind indexes (base64, 32 bytes), separate from email_keys.
    index_key: str = ""
    instance_path: str = "instance"
    # Reverse proxies in front of the API whose X-Forwarded-For we trust (0: trust none).
    proxy_hops: int = 0
    # WordPress's flood rule: one comment per this many seconds per full IP or per email.
    flood_seconds: int = 15
    # The sweeper runs this often and re-sends comments still pending after stale_after.
    sweep_interval_seconds: int = 60
    stale_after_seconds: int = 120
    # Beat fine-tunes the models of sites with new moderator labels this often.
    learn_interval_seconds: int = 3600
    # A comment whose moderation task has started this many times without finishing (it
    # crashes a check, or kills its worker) is held for a human instead of retried forever.
    max_attempts: int = 5
    max_content_length: int = 256 * 1024
    # How long an API process may use cached site settings (origins, policy), in seconds.
    site_cache_seconds: float = 10.0
    # Broker socket timeouts (s): the request path must never hang on Redis.
    broker_timeout_seconds: float = 1.0
    log_level: str = "INFO"
    # Moderator web sessions end after this long without a request, and after the absolute
    # limit whatever the activity.
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    # Login throttling: failed password attempts allowed per account and per client
    # address within the window before further attempts get 429.
    login_window_minutes: int = 15
    login_failures_per_account: int = 5
    login_failures_per_ip: int = 20
    # Webhooks. Loopback receivers (127.0.0.0/8, ::1, localhost) are refused unless this
    # development setting is on; production refuses to start with it.
    webhooks_allow_loopback: bool = False
    # Beat looks for due webhook deliveries this often (s); at most this many attempts
    # run at once per endpoint.
    webhook_poll_seconds: int = 5
    webhook_max_in_flight: int = 2
    # Whole-request and connect timeouts of one delivery attempt (s).
    webhook_timeout_seconds: float = 15.0
    webhook_connect_timeout_seconds: float = 5.0
    # An endpoint failing for this long without a success is disabled.
    webhook_disable_after_hours: int = 120
    # After a secret rotation the previous secret keeps signing for this long.
    webhook_rotation_grace_hours: int = 24
    # Finished deliveries and their attempt logs are deleted after this many days.
    webhook_retention_days: int = 30
    # Comments keep their client address's HMAC and /24 (/48) prefix this many days, then
    # lose both (core/retention.py, docs/privacy.md); 0 keeps them.
    ip_retention_days: int = 30
    # Signed form tokens (embed widget, no-JS form): older tokens count as expired.
    form_token_max_age_seconds: int = 24 * 3600
    # Public read cache (thread listings, counts, feeds) in Redis: an empty URL means the
    # broker's Redis. Entries live at most this long, which bounds staleness even if an
    # invalidation was lost; normally a decision invalidates its thread at once.
    cache_url: str = ""
    read_cache_seconds: int = 300
    # `Cache-Control: max-age` of public reads; 0 means every use revalidates (ETag → 304).
    read_max_age_seconds: int = 0
    # Extra allowed origins for the seeded demo site, comma-separated (e.g. a static page
    # on another port that embeds the widget).
    demo_origins: str = ""
    # Rate limits on comment submissions (api/ratelimit.py, docs/security.md), in Redis:
    # independent buckets per client address, per email (its blind index) and per site,
    # each "N/period[;N/period...]" (an empty value turns that bucket off). `rate_limits`
    # is on, off, or auto: on in production only, since in development and tests every
    # request comes from 127.0.0.1. The storage is `rate_limit_url` (empty: the cache's
    # Redis; "memory://": this process only); when it is unreachable the limits fall back
    # to a per-process in-memory limiter, with a logged warning, never an error.
    rate_limits: str = "auto"
    rate_limit_ip: str = "5/minute;30/hour"
    rate_limit_email: str = "3/minute;20/hour"
    rate_limit_site: str = "600/minute"
    rate_limit_url: str = ""
    rate_limit_prefix: str = "rg-ratelimit"
    port: int = field(default=8000, metadata={"env": "PORT"})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """Build Settings from `REPLYGUARD_*` variables; unknown ones are ignored."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = f.metadata.get("env", f"REPLYGUARD_{f.name.upper()}")
            if key not in source:
                continue
            raw = source[key]
            kind: type[Any] = type(f.default)
            try:
                if kind is bool:
                    values[f.name] = _parse_bool(raw)
                elif kind in (int, float):
                    values[f.name] = kind(raw)
                else:
                    values[f.name] = raw
            except ValueError as exc:
                raise ConfigError(f"{key}: {exc}") from exc
        return cls(**values)

    def with_overrides(self, **changes: Any) -> Self:
        """A copy with some fields changed (tests, the dev server)."""
        return replace(self, **changes)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def rate_limits_on(self) -> bool:
        """Whether submissions are rate limited (see `rate_limits`)."""
        mode = self.rate_limits.strip().lower()
        if mode == "auto":
            return self.is_production
        return _parse_bool(mode)

    def check_production_safety(self) -> None:
        """Refuse to run production on development secrets."""
        if not self.is_production:
            return
        problems = []
        if self.secret_key in {"", "dev"}:
            problems.append("REPLYGUARD_SECRET_KEY must be set to a random value")
        if not self.email_keys:
            problems.append("REPLYGUARD_EMAIL_KEYS must be set (see .env.example)")
        if not self.index_key:
            problems.append("REPLYGUARD_INDEX_KEY must be set (see .env.example)")
        if self.database_url.startswith("sqlite"):
            problems.append("REPLYGUARD_DATABASE_URL must point at PostgreSQL in production")
        if self.webhooks_allow_loopback:
            problems.append("REPLYGUARD_WEBHOOKS_ALLOW_LOOPBACK is for development only")
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))
