"""The control plane (Istio Pilot's role): Istio resources in, Envoy configuration out over gRPC ADS."""
