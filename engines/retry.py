"""Backoff between retries, for every client that asks again: servers and judges alike."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)].

    A server's Retry-After wins when longer (at most two minutes), so a busy server is
    never asked again before it said it would be ready.
    """
    delay = random.uniform(0, min(cap, base * (2**attempt)))
    if retry_after is not None:
        delay = max(delay, min(retry_after, 120.0))
    return delay
