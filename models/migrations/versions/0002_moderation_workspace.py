"""moderation workspace: accounts, sessions, tokens, audit, author marks, events;
comments.site_id for the queue, comments.form_signals, check spans, thread pre-moderation, the deleted status

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 04:02:03.907758
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATUSES_OLD = "'pending', 'approved', 'held', 'rejected', 'spam'"
STATUSES_NEW = STATUSES_OLD + ", 'deleted'"


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("ip_index", sa.LargeBinary(length=32), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("attempted_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_login_attempts_email_at", ["email", "attempted_at"], unique=False)
        batch_op.create_index(
            "ix_login_attempts_ip_index_at", ["ip_index", "attempted_at"], unique=False
        )

    op.create_table(
        "moderators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderators")),
        sa.UniqueConstraint("email", name=op.f("uq_moderators_email")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "viewer",
                "moderator",
                "admin",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_api_tokens_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_site_id"), ["site_id"], unique=False)

    op.create_table(
        "author_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("email_index", sa.LargeBinary(length=32), nullable=True),
        sa.Column("ip_prefix", sa.String(length=45), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_author_marks_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_author_marks")),
    )
    with op.batch_alter_table("author_marks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_author_marks_site_id_email_index", ["site_id", "email_index"], unique=False
        )
        batch_op.create_index(
            "ix_author_marks_site_id_ip_prefix", ["site_id", "ip_prefix"], unique=False
        )

    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("moderator_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "viewer",
                "moderator",
                "admin",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["moderator_id"], ["moderators.id"], name=op.f("fk_memberships_moderator_id_moderators")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_memberships_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint("moderator_id", "site_id", name=op.f("uq_memberships_moderator_id")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_memberships_site_id"), ["site_id"], unique=False)

    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("moderator_id", sa.Integer(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["moderator_id"],
            ["moderators.id"],
            name=op.f("fk_web_sessions_moderator_id_moderators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_web_sessions_moderator_id"), ["moderator_id"], unique=False
        )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.String(length=40), nullable=True),
        sa.Column("after", sa.String(length=40), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name=op.f("fk_audit_log_comment_id_comments")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_audit_log_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_comment_id"), ["comment_id"], unique=False)
        batch_op.create_index("ix_audit_log_site_id_id", ["site_id", "id"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name=op.f("fk_events_comment_id_comments")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_events_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("public_id", name=op.f("uq_events_public_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_site_id_id", ["site_id", "id"], unique=False)

    with op.batch_alter_table("check_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spans", sa.JSON(), nullable=True))

    # site_id is copied from the thread for existing rows, then made required.
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("site_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("form_signals", sa.JSON(), nullable=True))
    op.execute(
        "UPDATE comments SET site_id = "
        "(SELECT threads.site_id FROM threads WHERE threads.id = comments.thread_id)"
    )
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.alter_column("site_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(
            "ix_comments_site_status_id", ["site_id", "status", "id"], unique=False
        )
        batch_op.create_index("ix_comments_parent_id", ["parent_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_comments_site_id_sites"), "sites", ["site_id"], ["id"]
        )
        batch_op.drop_constraint(op.f("ck_comments_comment_status"), type_="check")
        batch_op.create_check_constraint("comment_status", sa.text(f"status IN ({STATUSES_NEW})"))
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension: the database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_comments_author_name_trgm",
        "comments",
        ["author_name"],
        postgresql_using="gin",
        postgresql_ops={"author_name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_check_results_objections",
        "check_results",
        ["check_name", "decision_id"],
        postgresql_where=sa.text("action IS NOT NULL"),
        sqlite_where=sa.text("action IS NOT NULL"),
    )

    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("premoderated", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_column("premoderated")

    # Deleted comments have no status to go back to before this revision: they become spam.
    op.execute("UPDATE comments SET status = 'spam' WHERE status = 'deleted'")
    op.drop_index("ix_check_results_objections", table_name="check_results")
    op.drop_index("ix_comments_author_name_trgm", table_name="comments")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_comments_comment_status"), type_="check")
        batch_op.create_check_constraint("comment_status", sa.text(f"status IN ({STATUSES_OLD})"))
        batch_op.drop_constraint(batch_op.f("fk_comments_site_id_sites"), type_="foreignkey")
        batch_op.drop_index("ix_comments_site_status_id")
        batch_op.drop_index("ix_comments_parent_id")
        batch_op.drop_column("site_id")
        batch_op.drop_column("form_signals")

    with op.batch_alter_table("check_results", schema=None) as batch_op:
        batch_op.drop_column("spans")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_site_id_id")

    op.drop_table("events")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_site_id_id")
        batch_op.drop_index(batch_op.f("ix_audit_log_comment_id"))

    op.drop_table("audit_log")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_moderator_id"))

    op.drop_table("web_sessions")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_site_id"))

    op.drop_table("memberships")
    with op.batch_alter_table("author_marks", schema=None) as batch_op:
        batch_op.drop_index("ix_author_marks_site_id_ip_prefix")
        batch_op.drop_index("ix_author_marks_site_id_email_index")

    op.drop_table("author_marks")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_site_id"))

    op.drop_table("api_tokens")
    op.drop_table("moderators")
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempts_ip_index_at")
        batch_op.drop_index("ix_login_attempts_email_at")

    op.drop_table("login_attempts")
