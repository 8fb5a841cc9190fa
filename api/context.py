"""Typed accessors for what create_app put on the app."""

from __future__ import annotations

from flask import current_app

from core.config import Settings
from core.formtoken import FormTokens
from core.privacy import PrivacyVault
from core.readcache import ReadCache


def settings() -> Settings:
    value: Settings = current_app.extensions["replyguard.settings"]
    return value


def vault() -> PrivacyVault:
    value: PrivacyVault = current_app.extensions["replyguard.vault"]
    return value


def form_tokens() -> FormTokens:
    value: FormTokens = current_app.extensions["replyguard.form_tokens"]
    return value


def read_cache() -> ReadCache:
    value: ReadCache = current_app.extensions["replyguard.read_cache"]
    return value
