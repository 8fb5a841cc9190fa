"""One-line, injection-proof log records for every process (API, worker, CLI).

Records render as `time level logger message key=value...`, with CR/LF and every other
control or non-ASCII character escaped, so a commenter's name can never forge a log
line. Callers pass ids in `extra`, never emails, IPs or comment text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

ContextProvider = Callable[[], dict[str, object]]


class OneLineFormatter(logging.Formatter):
    """Formatter that appends `extra` fields and escapes control characters."""

    def __init__(self, context: ContextProvider | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self._context = context

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in vars(record).items() if k not in _RESERVED}
        if self._context is not None:
            for key, value in self._context().items():
                extras.setdefault(key, value)
        text = super().format(record)
        if extras:
            text += " " + " ".join(f"{k}={v}" for k, v in sorted(extras.items()))
        return text.encode("unicode_escape").decode("ascii")


def configure_logging(level: str, context: ContextProvider | None = None) -> None:
    """Install the one-line formatter on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler.formatter, OneLineFormatter):
            return
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(context))
    root.addHandler(handler)
    root.setLevel(level)
