"""The mesh's data model: the service registry and Istio networking resources.

Main entry points (see each module for the contract):

* ``resources.Resource`` -- a stored Istio object (envelope + raw spec).
* ``yaml_io.parse_documents`` / ``dump_documents`` -- YAML/JSON in and out, kubectl-compatible.
* ``istio.virtual_service_spec`` / ``destination_rule_spec`` / ``gateway_spec`` -- typed views.
* ``validation.validate`` / ``validate_delete`` -- errors with field paths before anything is stored.
"""

from meshcore.model.durations import format_duration, parse_duration
from meshcore.model.errors import FieldError, ValidationError
from meshcore.model.istio import destination_rule_spec, gateway_spec, virtual_service_spec
from meshcore.model.resources import KINDS, Resource, kind_from_plural
from meshcore.model.validation import validate, validate_delete
from meshcore.model.yaml_io import dump_documents, parse_documents

__all__ = [
    "KINDS",
    "FieldError",
    "Resource",
    "ValidationError",
    "destination_rule_spec",
    "dump_documents",
    "format_duration",
    "gateway_spec",
    "kind_from_plural",
    "parse_documents",
    "parse_duration",
    "validate",
    "validate_delete",
    "virtual_service_spec",
]
