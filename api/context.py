"""Typed accessors for what create_app put on the app."""

from __future__ import annotations

from flask import current_app

from core.config import Settings
from core.privacy import PrivacyVault


def settings() -> Settings:
    value: Settings = current_app.extensions["replyguard.settings"]
    return value


def vault() -> PrivacyVault:
    value: PrivacyVault = current_app.extensions["replyguard.vault"]
    return value
