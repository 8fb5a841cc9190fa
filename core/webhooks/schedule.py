"""The retry schedule of Standard Webhooks: after the first attempt, retries 5 s, 5 min,
30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h apart (ten attempts over about 75.5 hours),
each delay jittered by up to ±20 % so that receivers coming back from an outage are not
hit by every sender's retries in the same second.

The delays are stored as `next_attempt_at` in the database and picked up by the beat
poller, never held as Celery countdowns: a countdown longer than Redis's visibility
timeout is redelivered again and again, and one held only in a worker's memory is lost
with the worker.
"""

from __future__ import annotations

import datetime as dt
import random

RETRY_DELAYS: tuple[dt.timedelta, ...] = (
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=14),
    dt.timedelta(hours=20),
    dt.timedelta(hours=24),
)
JITTER = 0.2
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


def delay_after(failures: int, rng: random.Random | None = None) -> dt.timedelta | None:
    """How long to wait after the `failures`-th failed attempt of a round (1-based), with
    jitter; None once the schedule is exhausted."""
    if failures < 1:
        raise ValueError("failures counts from 1")
    if failures > len(RETRY_DELAYS):
        return None
    factor = (rng or random).uniform(1 - JITTER, 1 + JITTER)  # jitter, not crypto
    return RETRY_DELAYS[failures - 1] * factor
