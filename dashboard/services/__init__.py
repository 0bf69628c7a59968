"""Services and workloads: golden signals over time and the sidecar (Envoy) view."""
