"""meshcore: a small but real service mesh in the shape of Istio (Envoy sidecars, an xDS control
plane, a Zipkin-compatible tracer and the BookInfo demo). Pure Python; never imports Django."""
