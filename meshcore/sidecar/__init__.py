"""Envoy sidecars: bootstrap generation and process supervision."""
