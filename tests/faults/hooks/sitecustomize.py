"""Test-only fault hooks, loaded at interpreter start-up (Python imports `sitecustomize` from
PYTHONPATH) by the processes the fault suite starts with this folder on their PYTHONPATH.

Production code carries no hook: this file wraps one ordinary check (`MaxLinks.run`) from
the outside, and only when FAULTHOOK_DIR is set. For a comment whose body contains
  FAULT-POISON     the check raises, every time (a poison comment);
  FAULT-CRASH      the check SIGKILLs its own process, every time (a poison that kills workers);
  FAULT-SLOW-<n>   the check writes `running-<pid>-<comment id>` into FAULTHOOK_DIR, then
                   sleeps n seconds (a task to kill mid-way).
Any other comment goes through the real check unchanged.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

_SLOW = re.compile(r"FAULT-SLOW-(\d+)")


def _install(hook_dir: Path) -> None:
    from core.checks import links

    original = links.MaxLinks.run

    def run(self: Any, comment: Any, ctx: Any) -> Any:
        body = comment.body
        if "FAULT-POISON" in body:
            raise RuntimeError("fault hook: this comment crashes the max_links check")
        if "FAULT-CRASH" in body:
            os.kill(os.getpid(), signal.SIGKILL)
        if (slow := _SLOW.search(body)) is not None:
            (hook_dir / f"running-{os.getpid()}-{comment.comment_id}").write_text(str(time.time()))
            time.sleep(int(slow[1]))
        return original(self, comment, ctx)

    links.MaxLinks.run = run  # type: ignore[method-assign]
    (hook_dir / f"installed-{os.getpid()}").touch()


if _dir := os.environ.get("FAULTHOOK_DIR"):
    _install(Path(_dir))
