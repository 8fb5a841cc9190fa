"""Normalise comment text once for every text check.

Placeholder contract (to be completed): `normalize(body)` returns a NormalizedText whose
`text` is the comparable form and whose `offsets[i]` is the index in the original body of
`text[i]`, so a match in `text` maps back to a span of the original body."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NormalizedText:
    """The original body, its normalised form and the map between them."""

    original: str
    text: str
    offsets: tuple[int, ...]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original body that `text[start:end]` came from."""
        if start >= end:
            return (start, start)
        return (self.offsets[start], self.offsets[end - 1] + 1)


def normalize(body: str) -> NormalizedText:
    """Case-folded text (placeholder: no other normalisation yet)."""
    folded = body.lower()
    if len(folded) != len(body):
        folded = "".join(ch.lower()[0] for ch in body)
    return NormalizedText(body, folded, tuple(range(len(body))))
