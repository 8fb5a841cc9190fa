"""Key rotation (RELIABILITY P2): interrupt after one batch, resume, and every row is
readable with the new key alone."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import keyrotation
from core.config import Settings
from core.privacy import PrivacyVault, new_key_material
from core.webhooks.endpoints import signing_secrets
from models import Comment, Site, WebhookEndpoint
from models.base import utcnow
from tests.core.test_gdpr import decrypt, make_comment, unique_email


class Interrupted(Exception):
    pass


def vaults(settings: Settings) -> tuple[PrivacyVault, PrivacyVault, PrivacyVault]:
    """(old vault, vault with a new first key plus the old one, the new key alone)."""
    new_key = f"r2:{new_key_material()}"
    old = PrivacyVault(settings)
    both = PrivacyVault(settings.with_overrides(email_keys=f"{new_key},{settings.email_keys}"))
    alone = PrivacyVault(settings.with_overrides(email_keys=new_key))
    return old, both, alone


def endpoint(session: Session, site: Site, vault: PrivacyVault, public_id: str) -> WebhookEndpoint:
    purpose = f"webhook_endpoints.secret|{public_id}"
    secret, key_id = vault.encrypt_secret("whsec_current", purpose=purpose)
    previous, previous_key_id = vault.encrypt_secret("whsec_previous", purpose=purpose)
    row = WebhookEndpoint(
        public_id=public_id,
        site_id=site.id,
        url="https://hooks.example/in",
        events=["comment.approved"],
        secret_ciphertext=secret,
        secret_key_id=key_id,
        previous_secret_ciphertext=previous,
        previous_secret_key_id=previous_key_id,
        previous_secret_expires_at=utcnow().replace(year=utcnow().year + 1),
    )
    session.add(row)
    session.flush()
    return row


def test_rotation_interrupted_after_one_batch_resumes_and_finishes(
    session: Session, site: Site, settings: Settings
) -> None:
    old, both, alone = vaults(settings)
    emails = [unique_email() for _ in range(7)]
    comments = [make_comment(session, site, old, email) for email in emails]
    hook = endpoint(session, site, old, f"ep_rot_{site.id}")
    session.commit()
    assert keyrotation.current_key_id(both) == "r2"
    before = keyrotation.pending(session, both)
    assert before.comments >= 7 and before.endpoints >= 1

    committed: list[int] = []

    def run_until_crash() -> None:
        for batch in keyrotation.rotate_batches(session, both, batch_size=3):
            session.commit()
            committed.append(batch.rotated)
            raise Interrupted  # a crash right after the first batch committed

    with pytest.raises(Interrupted):
        run_until_crash()
    session.rollback()
    assert committed == [3]
    middle = keyrotation.pending(session, both)
    assert middle.comments == before.comments - 3

    started = time.perf_counter()
    rotated = 0
    for batch in keyrotation.rotate_batches(session, both, batch_size=3):
        session.commit()
        rotated += batch.rotated
        assert batch.failed == []
    elapsed = time.perf_counter() - started
    print(f"\n[{session.get_bind().dialect.name}] rotated {rotated} rows in {elapsed:.3f} s")
    assert keyrotation.pending(session, both).total == 0
    assert list(keyrotation.rotate_batches(session, both)) == []  # idempotent

    for comment, email in zip(comments, emails, strict=True):
        session.refresh(comment)
        assert comment.email_key_id == "r2"
        assert decrypt(alone, comment) == email  # the old key can go
    session.refresh(hook)
    assert hook.secret_key_id == "r2" and hook.previous_secret_key_id == "r2"
    assert signing_secrets(hook, now=utcnow(), vault=alone) == ("whsec_current", "whsec_previous")


def test_a_row_that_does_not_decrypt_is_reported_and_left_alone(
    session: Session, site: Site, settings: Settings
) -> None:
    old, both, _alone = vaults(settings)
    good = make_comment(session, site, old, unique_email())
    bad = make_comment(session, site, old, unique_email())
    bad.email_ciphertext = bytes(bad.email_ciphertext[:-1]) + bytes([bad.email_ciphertext[-1] ^ 1])
    session.commit()
    failed = [i for b in keyrotation.rotate_batches(session, both, batch_size=1) for i in b.failed]
    session.commit()
    assert bad.id in failed and good.id not in failed
    rows = {
        c.id: c for c in session.scalars(select(Comment).where(Comment.id.in_([good.id, bad.id])))
    }
    assert rows[good.id].email_key_id == "r2"
    assert rows[bad.id].email_key_id != "r2"
