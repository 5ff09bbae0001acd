"""Retention: the oldest events go when the store passes an age, a count or a size.

Applied after every stored event (count and size) and once a minute (age), each pass
deleting only what is over, oldest first, and logging how many went and why.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass

from .store import EventStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionPolicy:
    max_age_days: float = 0.0  # 0: no limit
    max_events: int = 0
    max_bytes: int = 0

    @property
    def active(self) -> bool:
        return bool(self.max_age_days or self.max_events or self.max_bytes)


def apply_retention(store: EventStore, policy: RetentionPolicy, now: float | None = None,
                    batch: int = 1000) -> Counter:
    """Delete what is over the policy, oldest first; the counts by reason (and ``freed`` bytes)."""
    deleted: Counter = Counter()
    if not policy.active:
        return deleted
    now = time.time() if now is None else now
    with store.index.transaction():
        for _ in range(batch):
            events, size = store.index.totals()
            reason, victim = None, None
            if policy.max_events and events > policy.max_events:
                reason, victim = "count", store.index.oldest()
            elif policy.max_bytes and size > policy.max_bytes:
                reason, victim = "bytes", store.index.oldest()
            elif policy.max_age_days:
                reason, victim = "age", store.index.oldest(now - policy.max_age_days * 86400)
            if victim is None:
                break
            deleted["freed"] += store.delete(victim)
            deleted[reason] += 1
    total = sum(v for k, v in deleted.items() if k != "freed")
    if total:
        log.info("retention: deleted %d event%s (%s), %d bytes freed", total, "" if total == 1 else "s",
                 ", ".join(f"{deleted[r]} by {r}" for r in ("age", "count", "bytes") if deleted[r]),
                 deleted["freed"])
    return deleted
