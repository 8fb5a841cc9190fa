"""HTTP adapter: the Flask app factory. Imports core/ and models/, never workers/."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from api import db, errors, httpcache, logs, queue, ratelimit, security
from api.views import (
    akismet,
    comments,
    demo,
    embed,
    health,
    moderation_api,
    moderation_ui,
    moderation_ui_admin,
    openapi,
    privacy,
    threads,
    webhooks,
)
from core.config import Settings
from core.devkeys import with_dev_keys
from core.formtoken import FormTokens
from core.privacy import PrivacyVault
from core.sites import SiteCache

# Largest id a database row can have (BIGINT, SQLite INTEGER).
MAX_ROW_ID = 2**63 - 1


class RowIdConverter(IntegerConverter):
    """`<int:...>` in our URLs is a row id: a larger number is a 404 at routing, never an
    integer overflow in the database driver (a 500 that schemathesis found)."""

    def __init__(self, url_map: Map, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(url_map, *args, **kwargs)  # type: ignore[arg-type]


def create_app(settings: Settings | None = None) -> Flask:
    """Build the HTTP app. Tests pass their own Settings; production reads the environment."""
    settings = settings or Settings.from_env()
    settings.check_production_safety()
    settings = with_dev_keys(settings)
    app = Flask(__name__)
    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        MAX_FORM_MEMORY_SIZE=settings.max_content_length,
        MAX_FORM_PARTS=100,
        JSON_SORT_KEYS=False,
    )
    app.extensions["replyguard.settings"] = settings
    app.extensions["replyguard.vault"] = PrivacyVault(settings)
    app.extensions["replyguard.sites"] = SiteCache(ttl=settings.site_cache_seconds)
    app.extensions["replyguard.form_tokens"] = FormTokens(
        settings.secret_key, max_age_seconds=settings.form_token_max_age_seconds
    )
    if settings.proxy_hops > 0:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
    logs.init_app(app, settings)
    db.init_app(app, settings)
    queue.init_app(app, settings)
    httpcache.init_app(app, settings)
    errors.init_app(app)
    security.init_app(app)
    ratelimit.init_app(app, settings)
    for blueprint in (
        comments.bp,
        health.bp,
        demo.bp,
        moderation_api.bp,
        moderation_ui.bp,
        moderation_ui_admin.bp,
        webhooks.bp,
        threads.bp,
        embed.bp,
        akismet.bp,
        privacy.bp,
        openapi.bp,
    ):
        app.register_blueprint(blueprint)
    return app
