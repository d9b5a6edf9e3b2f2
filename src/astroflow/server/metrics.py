"""Prometheus text exposition of the job system, built from a snapshot the store provides.

The numbers live in the database, not in this process (several API replicas may share one
store), so each scrape renders a fresh registry from the snapshot: no global state, and every
replica reports the same totals.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
# From a cache hit's milliseconds to an hour-long analysis.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    120.0, 300.0, 600.0, 1800.0, 3600.0)
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class _Snapshot(Collector):
    """Yields the metric families of one snapshot."""

    def __init__(self, counts_by_state: Mapping[str, int], queue_length: int,
                 durations: Sequence[float], services: int, extra: Mapping[str, float]) -> None:
        self.counts = counts_by_state
        self.queue_length = queue_length
        self.durations = durations
        self.services = services
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("astroflow_jobs", "Jobs in the store by state", labels=["state"])
        states = list(JOB_STATES) + sorted(set(self.counts) - set(JOB_STATES))
        for state in states:
            jobs.add_metric([state], float(self.counts.get(state, 0)))
        yield jobs
        yield GaugeMetricFamily("astroflow_queue_length", "Jobs waiting for a worker",
                                value=float(self.queue_length))
        yield duration_histogram(self.durations)
        yield GaugeMetricFamily("astroflow_services", "Services the server offers",
                                value=float(self.services))
        for name, value in sorted(self.extra.items()):
            yield GaugeMetricFamily(metric_name(name), f"astroflow {name}", value=float(value))


def duration_histogram(durations: Sequence[float]) -> HistogramMetricFamily:
    """``astroflow_job_duration_seconds`` from run times (seconds) of finished jobs."""
    values = sorted(d for d in durations if d is not None and math.isfinite(d) and d >= 0)
    buckets = [(_bucket_label(b), float(bisect.bisect_right(values, b)))
               for b in DURATION_BUCKETS]
    buckets.append(("+Inf", float(len(values))))
    return HistogramMetricFamily("astroflow_job_duration_seconds",
                                 "Run time of finished jobs, from start to end",
                                 buckets=buckets, sum_value=math.fsum(values))


def _bucket_label(bound: float) -> str:
    return repr(float(bound))


def metric_name(name: str) -> str:
    """``astroflow_<name>`` unless already prefixed; refuses names Prometheus cannot parse."""
    full = name if name.startswith("astroflow_") else f"astroflow_{name}"
    if not _METRIC_NAME.match(full):
        raise ValueError(f"{name!r} is not a valid Prometheus metric name "
                         "(letters, digits, '_' and ':' only, not starting with a digit)")
    return full


def render_metrics(counts_by_state: Mapping[str, int], queue_length: int,
                   durations: Sequence[float], services: int,
                   extra: Mapping[str, float] | None = None) -> tuple[bytes, str]:
    """``(body, content type)`` of the Prometheus text exposition for one snapshot.

    ``durations`` should be the run times of all finished jobs still in the store, so the
    histogram only grows between scrapes as Prometheus expects; ``extra`` adds gauges.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(counts_by_state, queue_length, durations, services,
                                extra or {}))
    return generate_latest(registry), CONTENT_TYPE_LATEST
