"""Hypothesis properties of submission validation (F1, F2): whatever arrives, loading it
either succeeds or raises marshmallow's ValidationError with messages keyed by field,
never anything else; accepted values respect the documented limits. (Normalisation's own
properties are in tests/core/test_normalize.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from api.schemas import (
    COMMENT_MAX_BYTES,
    NAME_MAX_CHARS,
    WEBSITE_MAX_CHARS,
    WORDPRESS_ALIASES,
    SubmissionSchema,
)

SCHEMA = SubmissionSchema()
KNOWN_KEYS = sorted(
    {"thread", "comment", "name", "email", "website", "parent", "thread_url", "thread_title"}
    | {"redirect_to", "form_token", "rg_hp", "submit"}
    | set(WORDPRESS_ALIASES)
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=300),
    st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
payloads = st.dictionaries(
    st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=12)), values, max_size=10
)
plausible = st.fixed_dictionaries(
    {
        "thread": st.text(min_size=1, max_size=210),
        "comment": st.text(min_size=1, max_size=400),
        "name": st.text(min_size=1, max_size=260),
        "email": st.one_of(st.emails(), st.text(max_size=40)),
    },
    optional={
        "website": st.one_of(
            st.text(max_size=60), st.builds(lambda s: "https://" + s, st.text(max_size=210))
        ),
        "parent": st.one_of(st.integers(), st.text(max_size=5)),
    },
)


def load(data: Any) -> dict[str, Any]:
    """The loaded data, or `{"__errors__": [field, ...]}` after checking the errors' shape."""
    try:
        loaded: dict[str, Any] = SCHEMA.load(data)
    except ValidationError as exc:
        errors: Any = exc.messages
    else:
        return loaded
    assert isinstance(errors, dict), errors
    for key, messages in errors.items():
        assert isinstance(key, str)
        assert isinstance(messages, list | dict), (key, messages)
    return {"__errors__": list(errors)}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(payloads)
def test_arbitrary_objects_never_raise_anything_else(data: dict[str, Any]) -> None:
    load(data)


@settings(max_examples=100)
@given(st.one_of(values, st.lists(values)))
def test_non_objects_are_a_schema_error(data: Any) -> None:
    if isinstance(data, dict):
        return
    with pytest.raises(ValidationError) as caught:
        SCHEMA.load(data)
    assert isinstance(caught.value.messages, dict)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(plausible)
def test_accepted_submissions_respect_the_limits(data: dict[str, Any]) -> None:
    result = load(data)
    if "__errors__" in result:
        return
    assert 0 < len(result["thread"]) <= 200
    assert len(result["name"]) <= NAME_MAX_CHARS
    assert len(result["comment"].encode()) <= COMMENT_MAX_BYTES
    for key in ("thread", "comment", "name", "email"):
        assert result[key] == result[key].strip()
    website = result.get("website")
    if website is not None:
        assert website.startswith(("http://", "https://"))
        assert len(website) <= WEBSITE_MAX_CHARS
    assert not set(result) & {"rg_hp", "submit", "comment_post_ID", "author", "url"}


@settings(max_examples=200)
@given(st.text(max_size=20).filter(lambda k: k not in KNOWN_KEYS and k.strip()))
def test_an_unknown_field_is_named_in_the_errors(key: str) -> None:
    data = {"thread": "t", "comment": "Hello there", "name": "N", "email": "a@example.org"}
    result = load({**data, key: "x"})
    assert "__errors__" in result
    assert key in result["__errors__"] or str(key) in result["__errors__"]
