"""Wire formats. `SubmissionSchema` loads what a "Leave a Reply" form sends (our field names
or WordPress's), trimming values and enforcing WordPress's limits; the dump helpers shape
what anyone may see. Unknown keys are rejected."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, pre_load, validate

from core.comments import NewComment

NAME_MAX_CHARS = 245
EMAIL_MAX_CHARS = 100
WEBSITE_MAX_CHARS = 200
COMMENT_MAX_BYTES = 65_525
THREAD_KEY_MAX_CHARS = 200
FORM_TOKEN_MAX_CHARS = 200
# The honeypot: hidden from people, so only bots fill it in. Its name is meaningless on
# purpose: browsers' autofill recognises names like "email2" or "address" and would fill
# it for real readers.
HONEYPOT_FIELD = "rg_hp"

# WordPress's comment form field names, mapped onto ours.
WORDPRESS_ALIASES = {
    "comment_post_ID": "thread",
    "comment_parent": "parent",
    "author": "name",
    "url": "website",
}
_IGNORED_FIELDS = ("submit", "wp_cookies_consent", "wp_unfiltered_html")


def _has_control_chars(value: str) -> bool:
    return any((ord(ch) < 32 and ch not in "\t\n\r") or 0x7F <= ord(ch) < 0xA0 for ch in value)


def check_http_url(value: str, max_chars: int) -> str:
    """An absolute http(s) URL without credentials; a bare domain gets `http://` as in WordPress."""
    if len(value) > max_chars:
        raise ValidationError(f"Longer than {max_chars} characters.")
    if "://" not in value and not value.startswith("//") and ":" not in value.split("/")[0]:
        value = "http://" + value
    if any(ch.isspace() for ch in value) or _has_control_chars(value):
        raise ValidationError("Addresses cannot contain spaces or control characters.")
    try:
        parts = urlsplit(value)
        hostname = parts.hostname  # parsing a bracketed host can raise too
    except ValueError:
        raise ValidationError("Not a valid web address.") from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise ValidationError("Only http:// and https:// addresses are accepted.")
    if not hostname:
        raise ValidationError("Not a valid web address.")
    if parts.username is not None or parts.password is not None:
        raise ValidationError("Addresses with a user name or password are not accepted.")
    if len(value) > max_chars:
        raise ValidationError(f"Longer than {max_chars} characters.")
    return value


class HttpUrl(fields.String):
    """An http(s) URL field, normalised as in `check_http_url`."""

    def __init__(self, max_chars: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_chars = max_chars

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        return check_http_url(text, self.max_chars)


class EmailAddress(fields.String):
    """Syntax-checked (no DNS lookups) and normalised email address."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > EMAIL_MAX_CHARS:
            raise ValidationError(
                f"Your email address is longer than {EMAIL_MAX_CHARS} characters."
            )
        try:
            checked = validate_email(text, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValidationError(f"Please enter a valid email address ({exc}).") from exc
        return str(checked.normalized)


def _max_bytes(limit: int) -> validate.Validator:
    def check(value: str) -> None:
        size = len(value.encode())
        if size > limit:
            raise ValidationError(
                f"Your comment is too long ({size:,} bytes; the limit is {limit:,})."
            )

    return check  # type: ignore[return-value]


def _no_controls(value: str) -> None:
    if _has_control_chars(value):
        raise ValidationError("Control characters are not allowed.")


class SubmissionSchema(Schema):
    """A "Leave a Reply" submission. Required: thread, comment, name, email."""

    class Meta:
        unknown = RAISE

    thread = fields.String(
        required=True,
        validate=[validate.Length(1, THREAD_KEY_MAX_CHARS), _no_controls],
        error_messages={"required": "Which article is this comment for? (thread)"},
    )
    thread_url = HttpUrl(2000, load_default=None)
    thread_title = fields.String(
        load_default=None, validate=[validate.Length(max=300), _no_controls]
    )
    parent = fields.Integer(load_default=None, validate=validate.Range(min=0))
    comment = fields.String(
        required=True,
        validate=_max_bytes(COMMENT_MAX_BYTES),
        error_messages={"required": "Please type your comment text."},
    )
    name = fields.String(
        required=True,
        validate=[
            validate.Length(
                max=NAME_MAX_CHARS, error=f"Your name is longer than {NAME_MAX_CHARS} characters."
            ),
            _no_controls,
        ],
        error_messages={"required": "Please enter your name."},
    )
    email = EmailAddress(
        required=True, error_messages={"required": "Please enter your email address."}
    )
    website = HttpUrl(WEBSITE_MAX_CHARS, load_default=None)
    redirect_to = fields.String(load_default=None, validate=validate.Length(max=2000))
    # Signed by GET .../form-token (or embedded in a rendered form); checked at intake.
    form_token = fields.String(
        load_default=None, validate=validate.Length(max=FORM_TOKEN_MAX_CHARS)
    )
    # Any non-empty value means a bot filled it in (empty values are dropped below).
    honeypot = fields.Raw(load_default=None, data_key=HONEYPOT_FIELD)
    # Sent by WordPress themes' forms; accepted and ignored so such a form posts unchanged.
    submit = fields.Raw(load_default=None)
    wp_cookies_consent = fields.Raw(load_default=None, data_key="wp-comment-cookies-consent")
    wp_unfiltered_html = fields.Raw(load_default=None, data_key="_wp_unfiltered_html_comment")

    @pre_load
    def normalise(self, data: Any, **_kwargs: Any) -> Any:
        """Map WordPress names onto ours, trim strings, drop empty values (as WordPress does)."""
        if not isinstance(data, Mapping):
            raise ValidationError("Expected an object of fields.", "_schema")
        out: dict[str, Any] = {}
        conflicts: dict[str, list[str]] = {}
        for key, value in data.items():
            target = WORDPRESS_ALIASES.get(str(key), str(key))
            if isinstance(value, str):
                value = value.strip()
                if value == "":
                    continue
            if target in out and out[target] != value:
                conflicts[target] = [
                    f"Given twice (as {target!r} and {key!r}) with different values."
                ]
            out[target] = value
        if conflicts:
            raise ValidationError(conflicts)
        return out

    @post_load
    def to_submission(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        """Drop the ignored WordPress fields; `parent` 0 means "no parent" as in WordPress."""
        for name in _IGNORED_FIELDS:
            data.pop(name, None)
        if data.get("parent") == 0:
            data["parent"] = None
        return data


def to_new_comment(data: dict[str, Any]) -> NewComment:
    """The domain's view of a loaded submission (without adapter-only fields)."""
    return NewComment(
        thread=data["thread"],
        comment=data["comment"],
        name=data["name"],
        email=data["email"],
        website=data.get("website"),
        parent=data.get("parent"),
        thread_url=data.get("thread_url"),
        thread_title=data.get("thread_title"),
        form_signals=data.get("form_signals"),
    )


def dump_comment(node: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready copy of a public comment node (and its replies) from core.comments."""
    out = dict(node)
    out["submitted_at"] = node["submitted_at"].isoformat()
    if "replies" in node:
        out["replies"] = [dump_comment(reply) for reply in node["replies"]]
    return out
