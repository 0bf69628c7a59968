"""The telemetry and trace settings of cluster mode: defaults, and bad values named at start."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.dashboard.test_settings_env import reload_settings


def test_defaults_read_envoy_and_the_local_tracer(monkeypatch):
    for name in (
        "MESHSCOPE_CLUSTER",
        "MESHSCOPE_TELEMETRY_SOURCE",
        "MESHSCOPE_TRACES_URL",
        "MESHSCOPE_TRACES_KIND",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = reload_settings(monkeypatch)
    assert (settings.TELEMETRY_SOURCE, settings.PROMETHEUS_URL, settings.PROMETHEUS_RATE_WINDOW) == (
        "envoy",
        "",
        "1m",
    )
    assert (settings.TRACES_URL, settings.TRACES_KIND) == ("", "zipkin")


def test_cluster_mode_reads_prometheus(monkeypatch):
    monkeypatch.delenv("MESHSCOPE_TELEMETRY_SOURCE", raising=False)
    settings = reload_settings(
        monkeypatch, MESHSCOPE_CLUSTER="kubernetes", MESHSCOPE_PROMETHEUS_URL="http://prometheus:9090"
    )
    assert settings.TELEMETRY_SOURCE == "prometheus"
    assert settings.PROMETHEUS_LATENCY_INTERVAL_SECONDS == 15.0


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"MESHSCOPE_TELEMETRY_SOURCE": "statsd"}, "MESHSCOPE_TELEMETRY_SOURCE"),
        (
            {"MESHSCOPE_TELEMETRY_SOURCE": "prometheus", "MESHSCOPE_PROMETHEUS_URL": ""},
            "MESHSCOPE_PROMETHEUS_URL",
        ),
        ({"MESHSCOPE_PROMETHEUS_RATE_WINDOW": "1.5m"}, "MESHSCOPE_PROMETHEUS_RATE_WINDOW"),
        ({"MESHSCOPE_TRACES_KIND": "tempo"}, "MESHSCOPE_TRACES_KIND"),
        ({"MESHSCOPE_PROMETHEUS_TIMEOUT": "0"}, "MESHSCOPE_PROMETHEUS_TIMEOUT"),
        ({"MESHSCOPE_PROMETHEUS_LATENCY_INTERVAL": "-1"}, "MESHSCOPE_PROMETHEUS_LATENCY_INTERVAL"),
        ({"MESHSCOPE_PROMETHEUS_LATENCY_INTERVAL": "often"}, "MESHSCOPE_PROMETHEUS_LATENCY_INTERVAL"),
    ],
)
def test_bad_values_are_refused_by_name(monkeypatch, env, fragment):
    with pytest.raises(ImproperlyConfigured, match=fragment):
        reload_settings(monkeypatch, **env)
