"""Prometheus metrics of a receiver, read from its counters at each scrape."""
from __future__ import annotations

import time

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .intake import Receiver

PER_DEVICE = (
    ("stored", "events_received", "Events stored (each revision counts)"),
    ("duplicates", "duplicates", "Duplicate deliveries dropped"),
    ("rejected", "rejected", "Messages skipped: malformed, oversized, not a JPEG, wrong topic, hash mismatch"),
    ("incomplete_dropped", "incomplete_dropped", "Incomplete events dropped (count, bytes or age bound)"),
    ("sequence_missing", "sequence_missing", "Events missing from a box's sequence numbers when detected"),
)


class ReceiverCollector:
    def __init__(self, receiver: Receiver):
        self.receiver = receiver

    def collect(self):
        counts = self.receiver.counts
        snapshot = counts.snapshot()
        for kind, name, text in PER_DEVICE:
            family = CounterMetricFamily(f"mugshot_receiver_{name}", text, labels=["device"])
            for device, values in sorted(snapshot.items()):
                family.add_metric([device], values[kind])
            yield family
        dropped = CounterMetricFamily("mugshot_receiver_dropped", "Messages and incomplete events not stored",
                                      labels=["device"])
        for device, values in sorted(snapshot.items()):
            dropped.add_metric([device], values["rejected"] + values["incomplete_dropped"])
        yield dropped
        with counts.lock:
            reasons, deleted, last = dict(counts.rejected_reasons), dict(counts.retention_deleted), \
                dict(counts.last_event)
        family = CounterMetricFamily("mugshot_receiver_rejected_by_reason", "Messages skipped, by reason",
                                     labels=["reason"])
        for reason, n in sorted(reasons.items()):
            family.add_metric([reason], n)
        yield family
        family = CounterMetricFamily("mugshot_receiver_retention_deleted", "Events deleted by retention",
                                     labels=["reason"])
        for reason in ("age", "count", "bytes"):
            family.add_metric([reason], deleted.get(reason, 0))
        yield family
        now = time.time()
        family = GaugeMetricFamily("mugshot_receiver_last_event_age_seconds",
                                   "Seconds since the newest event of each box was stored", labels=["device"])
        for device, when in sorted(last.items()):
            family.add_metric([device], max(0.0, now - when))
        yield family
        missing = self.receiver.missing()
        family = GaugeMetricFamily("mugshot_receiver_sequence_missing_now",
                                   "Sequence numbers of each box missing now (late arrivals taken off)",
                                   labels=["device"])
        for device, (n, _) in sorted(missing.items()):
            family.add_metric([device], n)
        yield family
        family = GaugeMetricFamily("mugshot_receiver_sequence_missing_range",
                                   "Missing sequence ranges (the first 20 per box): how many in each",
                                   labels=["device", "first", "last"])
        for device, (_, ranges) in sorted(missing.items()):
            for first, last in ranges:
                family.add_metric([device, str(first), str(last)], last - first + 1)
        yield family
        index = self.receiver.store.index
        with index.lock:
            events, size = index.totals()
            pending, pending_bytes, _ = index.pending()
        yield GaugeMetricFamily("mugshot_receiver_stored_events", "Events in the store", value=events)
        yield GaugeMetricFamily("mugshot_receiver_stored_bytes", "Bytes of the stored events' files", value=size)
        yield GaugeMetricFamily("mugshot_receiver_pending_events", "Incomplete events waiting for parts",
                                value=pending)
        yield GaugeMetricFamily("mugshot_receiver_pending_bytes", "Bytes of incomplete events", value=pending_bytes)
        yield GaugeMetricFamily("mugshot_receiver_broker_connected", "1 while connected to the broker",
                                value=1 if self.receiver.connected() else 0)


def registry_for(receiver: Receiver) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ReceiverCollector(receiver))
    return registry
