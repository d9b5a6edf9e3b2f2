"""Prometheus exposition: parsed back with prometheus_client's own parser."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from astroflow.server.metrics import JOB_STATES, render_metrics


def families(body: bytes) -> dict:
    return {f.name: f for f in text_string_to_metric_families(body.decode("utf-8"))}


def samples(family) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}


def test_every_state_is_exposed_even_when_zero():
    body, content_type = render_metrics({"done": 12, "failed": 2}, 0, [], 3)
    assert content_type.startswith("text/plain")
    jobs = families(body)["astroflow_jobs"]
    assert jobs.type == "gauge"
    by_state = {s.labels["state"]: s.value for s in jobs.samples}
    assert by_state == {"queued": 0, "running": 0, "done": 12, "failed": 2, "cancelled": 0}
    assert set(by_state) == set(JOB_STATES)


def test_unknown_states_are_kept():
    body, _ = render_metrics({"done": 1, "interrupted": 4}, 0, [], 0)
    by_state = {s.labels["state"]: s.value for s in families(body)["astroflow_jobs"].samples}
    assert by_state["interrupted"] == 4 and by_state["done"] == 1


def test_queue_services_and_extra_gauges():
    body, _ = render_metrics({"queued": 5}, 5, [], 7, {"workers": 2, "astroflow_cache_hits": 40})
    parsed = families(body)
    assert samples(parsed["astroflow_queue_length"]) == {("astroflow_queue_length", ()): 5}
    assert samples(parsed["astroflow_services"]) == {("astroflow_services", ()): 7}
    assert samples(parsed["astroflow_workers"]) == {("astroflow_workers", ()): 2}
    assert samples(parsed["astroflow_cache_hits"]) == {("astroflow_cache_hits", ()): 40}
    with pytest.raises(ValueError, match="not a valid Prometheus metric name"):
        render_metrics({}, 0, [], 0, {"bad name": 1})


def test_duration_histogram():
    durations = [0.003, 0.02, 0.02, 0.7, 4.0, 7200.0, float("nan"), -1.0]
    body, _ = render_metrics({"done": 6}, 0, durations, 1)
    histogram = families(body)["astroflow_job_duration_seconds"]
    assert histogram.type == "histogram"
    values = samples(histogram)
    bucket = "astroflow_job_duration_seconds_bucket"
    assert values[(bucket, (("le", "0.005"),))] == 1
    assert values[(bucket, (("le", "0.025"),))] == 3
    assert values[(bucket, (("le", "1.0"),))] == 4
    assert values[(bucket, (("le", "5.0"),))] == 5
    assert values[(bucket, (("le", "3600.0"),))] == 5
    assert values[(bucket, (("le", "+Inf"),))] == 6  # NaN and negative times are not jobs
    assert values[("astroflow_job_duration_seconds_count", ())] == 6
    assert values[("astroflow_job_duration_seconds_sum", ())] == pytest.approx(7204.743)


def test_calls_share_no_state():
    render_metrics({"done": 100}, 9, [1.0] * 50, 4)
    body, _ = render_metrics({}, 0, [], 0)
    parsed = families(body)
    assert all(s.value == 0 for s in parsed["astroflow_jobs"].samples)
    assert samples(parsed["astroflow_job_duration_seconds"])[
        ("astroflow_job_duration_seconds_count", ())] == 0
