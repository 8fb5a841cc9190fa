"""core.text.normalize: the comparable skeleton of a comment and its offsets map."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.text.normalize import normalize, word_regex


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("id10t", "idiot"),
        ("c4sino", "casino"),
        ("sh!t", "shit"),
        ("2024, 10 people, $5", "2024, 10 people, $5"),
        ("hello! @ann wow!!!", "hello! @ann wow!!!"),
        ("10am 1st 4k 1080p", "10am 1st 4k 1080p"),
        ("сasino", "casino"),  # Cyrillic es
        ("ΟΝΕ", "one"),  # Greek capitals
        ("ＣＡＳＩＮＯ", "casino"),  # fullwidth
        ("𝐜𝐚𝐬𝐢𝐧𝐨", "casino"),  # mathematical bold
        ("cá\u0301sino", "casino"),  # accents dropped
        ("ca\u200bsi\u00adno\u202e", "casino"),  # zero-width, soft hyphen, bidi
        ("fuuuuck", "fuuck"),
        ("Straße", "strasse"),
    ],
)
def test_examples(body: str, text: str) -> None:
    assert normalize(body).text == text


def test_offsets_follow_expansions_and_removals() -> None:
    n = normalize("a\u200bﬁ!")
    assert n.text == "afi!"
    assert n.offsets == (0, 2, 2, 3)
    assert n.original_span(1, 3) == (2, 3)
    assert n.original_span(1, 2) == (2, 3)  # half a ligature is the whole ligature


def test_elongation_variants() -> None:
    n = normalize("so fuuuuck")
    assert n.elongated == (4,)
    variants = dict(n.variants())
    assert "so fuck" in variants
    start = "so fuck".index("fuck")
    assert n.original_span(3, 8) == (3, 10)
    assert variants["so fuck"][start] == 3


@pytest.mark.parametrize("written", ["f*ck", "f**k", "f***k", "F#CK", "f_ck", "fu.k"])
def test_masked_words_match(written: str) -> None:
    assert word_regex("fuck").search(normalize(f"what the {written} is this").text)


@pytest.mark.parametrize("written", ["f***", "*uck", "fck", "duck"])
def test_masks_only_inside_words(written: str) -> None:
    assert word_regex("fuck").search(normalize(written).text) is None


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_offsets_are_a_monotone_map_into_the_body(body: str) -> None:
    n = normalize(body)
    assert len(n.offsets) == len(n.text)
    assert all(0 <= i < len(body) for i in n.offsets)
    assert all(a <= b for a, b in zip(n.offsets, n.offsets[1:], strict=False))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_idempotent(body: str) -> None:
    once = normalize(body).text
    assert normalize(once).text == once


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.ascii_lowercase + " ", max_size=80))
def test_plain_lowercase_is_unchanged_but_for_elongations(body: str) -> None:
    n = normalize(body)
    if not n.elongated:
        assert n.text == body
        assert n.offsets == tuple(range(len(body)))


_SPOOF = {"a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "y": "у", "i": "і"}


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="aceopxyi" + "bdfghklmnrstuvw", min_size=1, max_size=30))
def test_cyrillic_spoof_maps_to_its_latin_skeleton(word: str) -> None:
    latin = normalize(word).text
    spoofed = "".join(_SPOOF.get(ch, ch) for ch in word)
    assert normalize(spoofed).text == latin
