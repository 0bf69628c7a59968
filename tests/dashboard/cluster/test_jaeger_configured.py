"""configured.trace_source() picks Zipkin or Jaeger by settings, and the trace explorer's API reads
a trace from Jaeger. The Jaeger here is the STAND-IN of jaeger_standin.py (Jaeger cannot run on
this machine: a real HTTP server answering in the shapes Jaeger's source defines); the Zipkin
server is the real local tracer."""

from __future__ import annotations

import pytest

from dashboard.sources import configured
from dashboard.sources.errors import SourceError
from dashboard.sources.jaeger import CLASSIC, V3, JaegerTraceSource
from dashboard.sources.traces import ZipkinTraceSource
from tests.dashboard.cluster.jaeger_standin import TRACE_ID, stand_in_jaeger
from tests.support.served_app import ServedApp


@pytest.fixture(params=["v3", "classic"])
def jaeger_url(request):
    served = ServedApp(stand_in_jaeger(request.param)[0])
    yield served.url, request.param
    served.stop()


def test_zipkin_is_the_default_and_reads_the_local_tracer(settings):
    settings.TRACES_URL = ""
    settings.TRACES_KIND = "zipkin"
    source = configured.trace_source()
    assert isinstance(source, ZipkinTraceSource) and source.base_url == settings.MESHCORE_TRACER_URL


@pytest.mark.parametrize("kind", ["auto", "jaeger"])
def test_jaeger_is_detected_with_its_api(settings, jaeger_url, kind):
    url, api = jaeger_url
    settings.TRACES_URL, settings.TRACES_KIND = url, kind
    source = configured.trace_source(2.0)
    assert isinstance(source, JaegerTraceSource) and source.timeout == 2.0
    assert source.api == (V3 if api == "v3" else CLASSIC)


def test_auto_on_a_zipkin_server_is_zipkin_and_jaeger_there_is_an_error(settings, tracer):
    settings.TRACES_URL, settings.TRACES_KIND = tracer.url, "auto"
    assert isinstance(configured.trace_source(), ZipkinTraceSource)
    settings.TRACES_KIND = "jaeger"
    with pytest.raises(SourceError):
        configured.trace_source()


@pytest.mark.django_db
def test_the_trace_api_reads_a_jaeger_trace(settings, jaeger_url, viewer_client):
    url, _api = jaeger_url
    settings.TRACES_URL, settings.TRACES_KIND = url, "auto"
    response = viewer_client.get(f"/api/traces/{TRACE_ID}")
    assert response.status_code == 200, response.content[:500]
    body = response.content.decode()
    for service in ("istio-ingressgateway", "productpage", "reviews"):
        assert service in body
    assert viewer_client.get(f"/api/traces/{'0' * 31}1").status_code == 404
