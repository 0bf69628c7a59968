"""The mesh's data model: the service registry and Istio networking resources."""
