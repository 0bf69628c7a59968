"""The pinned dependency set imports together (xds-protos used to clobber opentelemetry-proto)."""


def test_xds_protos_and_opentelemetry_exporter_import_together():
    from envoy.config.trace.v3 import zipkin_pb2
    from envoy.service.discovery.v3 import ads_pb2_grpc
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope

    assert ads_pb2_grpc.AggregatedDiscoveryServiceServicer
    assert zipkin_pb2.ZipkinConfig.HTTP_JSON
    assert trace_service_pb2.ExportTraceServiceRequest
    assert InstrumentationScope and OTLPSpanExporter


def test_envoy_binary_is_installed():
    import os

    from meshcore.sidecar.binary import envoy_binary

    assert os.access(envoy_binary(), os.X_OK)
