"""Encryption key rotation (RELIABILITY P2): re-encrypt under the first key of
REPLYGUARD_EMAIL_KEYS whatever is stored under another one.

The procedure: put the new key first in REPLYGUARD_EMAIL_KEYS (keeping the old ones after
it), restart, run `replyguard privacy rotate-keys`, then remove the old keys. Two kinds of
rows carry ciphertext under these keys: comments' emails (`email_key_id`) and webhook
endpoints' signing secrets (`secret_key_id`, `previous_secret_key_id`).

There is no progress table: a row's key id says whether it is done, so an interrupted run
(a crash, Ctrl-C, a deploy) simply continues where rows are still under an old key when
it is run again, and running it twice does nothing the second time. Each batch is read
by id order (keyset), re-encrypted and handed back so the caller can commit it. A row that
fails to decrypt (its key is gone, or it was tampered with) is never overwritten: its id
is reported and the run goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from core.privacy import EmailDecryptionError, EncryptedEmail, PrivacyVault, SecretDecryptionError
from core.webhooks.endpoints import secret_purpose
from models import Comment, WebhookEndpoint

BATCH_SIZE = 500


@dataclass(frozen=True)
class Pending:
    """How many rows are still under another key than the current one."""

    comments: int
    endpoints: int

    @property
    def total(self) -> int:
        return self.comments + self.endpoints


@dataclass(frozen=True)
class RotationBatch:
    """One batch: rows re-encrypted, ids that failed to decrypt, the last id looked at."""

    table: str
    rotated: int
    failed: list[int] = field(default_factory=list)
    last_id: int = 0


def current_key_id(vault: PrivacyVault) -> str:
    """The id of the key that encrypts now (the first of REPLYGUARD_EMAIL_KEYS), as the
    vault itself reports it."""
    _sealed, key_id = vault.encrypt_secret("", purpose="replyguard|key-rotation|probe")
    return key_id


def pending(session: Session, vault: PrivacyVault) -> Pending:
    """Rows still to rotate (what a progress bar counts down)."""
    key_id = current_key_id(vault)
    comments = session.scalar(
        select(func.count()).select_from(Comment).where(Comment.email_key_id != key_id)
    )
    endpoints = session.scalar(
        select(func.count()).select_from(WebhookEndpoint).where(_endpoint_outdated(key_id))
    )
    return Pending(comments or 0, endpoints or 0)


def _endpoint_outdated(key_id: str) -> ColumnElement[bool]:
    return or_(
        WebhookEndpoint.secret_key_id != key_id,
        and_(
            WebhookEndpoint.previous_secret_key_id.is_not(None),
            WebhookEndpoint.previous_secret_key_id != key_id,
        ),
    )


def rotate_comment_batch(
    session: Session, vault: PrivacyVault, *, after_id: int = 0, limit: int = BATCH_SIZE
) -> RotationBatch:
    """Re-encrypt up to `limit` comment emails with id > after_id under the current key."""
    current = current_key_id(vault)
    rows = list(
        session.scalars(
            select(Comment)
            .where(Comment.id > after_id, Comment.email_key_id != current)
            .order_by(Comment.id)
            .limit(limit)
            .with_for_update(of=Comment)
        )
    )
    failed: list[int] = []
    rotated = 0
    for comment in rows:
        stored = EncryptedEmail(comment.email_ciphertext, comment.email_key_id, comment.email_index)
        try:
            email = vault.decrypt_email(stored)
        except EmailDecryptionError:
            failed.append(comment.id)
            continue
        fresh = vault.encrypt_email(email)
        if fresh.index != comment.email_index:  # the index key changed too: not ours to fix
            failed.append(comment.id)
            continue
        comment.email_ciphertext = fresh.ciphertext
        comment.email_key_id = fresh.key_id
        rotated += 1
    session.flush()
    return RotationBatch("comments", rotated, failed, rows[-1].id if rows else after_id)


def rotate_endpoint_batch(
    session: Session, vault: PrivacyVault, *, after_id: int = 0, limit: int = BATCH_SIZE
) -> RotationBatch:
    """Re-encrypt the signing secrets (current and previous) of up to `limit` endpoints."""
    current = current_key_id(vault)
    rows = list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.id > after_id, _endpoint_outdated(current))
            .order_by(WebhookEndpoint.id)
            .limit(limit)
            .with_for_update()
        )
    )
    failed: list[int] = []
    rotated = 0
    for endpoint in rows:
        purpose = secret_purpose(endpoint)
        try:
            secret = vault.decrypt_secret(
                endpoint.secret_ciphertext, endpoint.secret_key_id, purpose=purpose
            )
            previous = None
            if endpoint.previous_secret_ciphertext is not None and endpoint.previous_secret_key_id:
                previous = vault.decrypt_secret(
                    endpoint.previous_secret_ciphertext,
                    endpoint.previous_secret_key_id,
                    purpose=purpose,
                )
        except SecretDecryptionError:
            failed.append(endpoint.id)
            continue
        endpoint.secret_ciphertext, endpoint.secret_key_id = vault.encrypt_secret(
            secret, purpose=purpose
        )
        if previous is not None:
            (
                endpoint.previous_secret_ciphertext,
                endpoint.previous_secret_key_id,
            ) = vault.encrypt_secret(previous, purpose=purpose)
        rotated += 1
    session.flush()
    return RotationBatch("webhook_endpoints", rotated, failed, rows[-1].id if rows else after_id)


def rotate_batches(
    session: Session, vault: PrivacyVault, *, batch_size: int = BATCH_SIZE
) -> Iterator[RotationBatch]:
    """Every outdated row in batches (comments, then endpoints), yielding after each so
    the caller can commit it. Stop at any point; the next run picks up what is left."""
    for rotate in (rotate_comment_batch, rotate_endpoint_batch):
        after_id = 0
        while True:
            batch = rotate(session, vault, after_id=after_id, limit=batch_size)
            looked_at = batch.rotated + len(batch.failed)
            if looked_at:
                yield batch
            if looked_at < batch_size:
                break
            after_id = batch.last_id
