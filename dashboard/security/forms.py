"""Django forms for Istio's security objects; each validates every field and builds the document.

A form gets the stored object it edits (`existing`, None for a new one) and `documents()` returns
what to write, pinned to the resourceVersion the form was opened on (`dashboard.routes.forms.pin`),
so a change made meanwhile is a conflict, never a lost update. Editing keeps every field the form
does not show (`dashboard.security.documents`). What the forms cannot know (a selector that
matches nothing, an unknown namespace, a TLS conflict) the control plane's dry run reports.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import formset_factory

from dashboard.routes.documents import resource_version
from dashboard.routes.forms import NOT_STORED, clean_duration, pin
from dashboard.security import documents
from meshcore.model.durations import parse_duration
from meshcore.model.resources import is_valid_name

Document = dict[str, Any]
MTLS_MODES = [
    ("UNSET", "UNSET (inherit from the namespace or the mesh)"),
    ("STRICT", "STRICT (mTLS only)"),
    ("PERMISSIVE", "PERMISSIVE (mTLS and plaintext)"),
    ("DISABLE", "DISABLE (plaintext only)"),
]
SCOPES = [
    ("mesh", "the whole mesh (istio-system)"),
    ("namespace", "one namespace"),
    ("workload", "workloads selected by labels"),
]
PRESETS = [
    (documents.RULES, "rules below"),
    (documents.ALLOW_ALL, "allow every request (allow-all)"),
    (documents.DENY_ALL, "deny every request (deny-all)"),
    (documents.ALLOW_NOTHING, "allow nothing: every request is denied (allow-nothing)"),
]
LABEL = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_./]{0,252})=([-A-Za-z0-9_.]{0,63})$")
HTTP_METHOD = re.compile(r"^[A-Z]{1,20}$")
CONDITION = re.compile(r"^\s*(?P<key>[^\s=!]+)\s*(?P<op>!=|=)\s*(?P<values>.*)$")
MIN_FILL_INTERVAL_S = 0.05  # Envoy refuses a token bucket that refills more often than every 50 ms


def split_list(text: str) -> list[str]:
    """``a, b c`` -> ``["a", "b", "c"]`` (commas or whitespace separate)."""
    return [item for item in re.split(r"[\s,]+", text or "") if item]


def parse_labels(text: str) -> dict[str, str]:
    """``app=reviews, version=v1`` -> labels; ValidationError naming the bad item."""
    labels: dict[str, str] = {}
    for item in split_list(text):
        match = LABEL.match(item)
        if not match:
            raise ValidationError(f"{item!r} is not a label: write key=value, e.g. app=reviews")
        labels[match.group(1)] = match.group(2)
    return labels


def format_labels(labels: dict[str, str] | None) -> str:
    return ", ".join(f"{key}={value}" for key, value in (labels or {}).items())


def clean_name(value: str) -> str:
    value = (value or "").strip()
    if not is_valid_name(value):
        raise ValidationError(
            "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending "
            "with a letter or digit, at most 63 characters"
        )
    return value


class SecurityForm(forms.Form):
    """Name, namespace and reason of every security change, and the version the form was opened on.
    Editing an existing object keeps its name and namespace (they identify it)."""

    kind = ""
    name = forms.CharField(label="Name", max_length=63)
    namespace = forms.CharField(label="Namespace", max_length=63, initial="default")
    reason = forms.CharField(label="Reason (for the audit log)", required=False, max_length=500)
    base_version = forms.CharField(widget=forms.HiddenInput, required=False, max_length=40)

    def __init__(self, data: Any = None, *, existing: Document | None = None, **kwargs: Any) -> None:
        self.existing = existing
        super().__init__(data, **kwargs)
        self.initial.setdefault("base_version", resource_version(existing) or NOT_STORED)
        if existing is not None:
            metadata = existing.get("metadata") or {}
            self.initial.update(name=metadata.get("name", ""), namespace=metadata.get("namespace", "default"))
            for field in ("name", "namespace"):
                self.fields[field].disabled = True

    def clean_name(self) -> str:
        return clean_name(self.cleaned_data.get("name", ""))

    def clean_namespace(self) -> str:
        return clean_name(self.cleaned_data.get("namespace", ""))

    def build(self) -> Document:  # pragma: no cover - every form defines it
        raise NotImplementedError

    def documents(self) -> list[Document]:
        return [pin(self.build(), self.cleaned_data.get("base_version", ""))]


class PeerAuthenticationForm(SecurityForm):
    """Scope (mesh / namespace / workload selector), mode, and per-port modes (portLevelMtls)."""

    kind = "PeerAuthentication"
    scope = forms.ChoiceField(label="Applies to", choices=SCOPES, initial="mesh")
    selector = forms.CharField(
        label="Workload labels", required=False, max_length=500, help_text="for workloads: e.g. app=reviews"
    )
    mode = forms.ChoiceField(label="mTLS mode", choices=MTLS_MODES, initial="STRICT")
    port_modes = forms.CharField(
        label="Per-port modes",
        required=False,
        max_length=500,
        help_text="portLevelMtls, for workloads only: e.g. 9080=DISABLE 15000=STRICT",
    )
    field_order = ["scope", "namespace", "selector", "name", "mode", "port_modes", "reason"]

    def __init__(self, data: Any = None, *, existing: Document | None = None, **kwargs: Any) -> None:
        super().__init__(data, existing=existing, **kwargs)
        self.fields["name"].initial = "default"
        self.fields["namespace"].required = False  # a mesh-wide policy's is istio-system
        self.fields["namespace"].help_text = "for a namespace or workloads (mesh-wide: istio-system)"
        if existing is None:
            return
        spec = existing.get("spec") or {}
        labels = (spec.get("selector") or {}).get("matchLabels")
        namespace = (existing.get("metadata") or {}).get("namespace", "default")
        self.initial.update(
            scope="workload" if labels else "mesh" if namespace == documents.ROOT_NAMESPACE else "namespace",
            selector=format_labels(labels),
            mode=(spec.get("mtls") or {}).get("mode", "UNSET"),
            port_modes=" ".join(
                f"{port}={(entry or {}).get('mode', 'UNSET')}"
                for port, entry in (spec.get("portLevelMtls") or {}).items()
            ),
        )
        self.fields["scope"].disabled = True  # the scope follows from the namespace and the selector

    def clean_namespace(self) -> str:
        if self.cleaned_data.get("scope") == "mesh" and self.existing is None:
            return documents.ROOT_NAMESPACE
        if not (self.cleaned_data.get("namespace") or "").strip():
            raise ValidationError("This field is required.")
        return super().clean_namespace()

    def clean_selector(self) -> dict[str, str]:
        return parse_labels(self.cleaned_data.get("selector", ""))

    def clean_port_modes(self) -> dict[int, str]:
        modes = {value for value, _ in MTLS_MODES}
        result: dict[int, str] = {}
        for item in split_list(self.cleaned_data.get("port_modes", "")):
            port, _, mode = item.partition("=")
            if not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValidationError(
                    f"{item!r}: the port must be a number from 1 to 65535 (e.g. 9080=DISABLE)"
                )
            if mode.upper() not in modes:
                raise ValidationError(f"{item!r}: the mode must be one of {', '.join(sorted(modes))}")
            result[int(port)] = mode.upper()
        return result

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        scope = cleaned.get("scope")
        if scope in ("mesh", "namespace") and cleaned.get("selector"):
            self.add_error(
                "selector", "only a workload policy selects workloads; choose 'workloads selected by labels'"
            )
        if scope == "workload" and "selector" in cleaned and not cleaned["selector"]:
            self.add_error("selector", "name the labels of the workloads, e.g. app=reviews")
        if scope != "workload" and cleaned.get("port_modes"):
            self.add_error(
                "port_modes", "per-port modes need a workload selector (ports belong to workloads)"
            )
        if cleaned.get("mode") == "UNSET" and scope != "workload" and not cleaned.get("port_modes"):
            self.add_error(
                "mode", "a mesh-wide or namespace policy needs a mode (UNSET would change nothing)"
            )
        return cleaned

    def build(self) -> Document:
        data = self.cleaned_data
        return documents.set_peer_authentication(
            self.existing, data["name"], data["namespace"], data["selector"], data["mode"], data["port_modes"]
        )


class AuthorizationRuleForm(forms.Form):
    """One rule: its callers (from), operations (to) and conditions (when). Empty fields match any."""

    source = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)
    principals = forms.CharField(
        label="From principals",
        required=False,
        max_length=2000,
        widget=forms.TextInput(
            attrs={"placeholder": "cluster.local/ns/default/sa/bookinfo-productpage", "size": 44}
        ),
    )
    namespaces = forms.CharField(label="From namespaces", required=False, max_length=1000)
    methods = forms.CharField(
        label="Methods",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "GET, POST"}),
    )
    paths = forms.CharField(
        label="Paths",
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "/reviews/*"}),
    )
    ports = forms.CharField(label="Ports", required=False, max_length=200)
    when = forms.CharField(
        label="When",
        required=False,
        max_length=4000,
        widget=forms.Textarea(
            attrs={"rows": 2, "cols": 36, "placeholder": "request.headers[end-user] = jason"}
        ),
        help_text="one per line: key = v1, v2 (or key != v)",
    )

    def clean_principals(self) -> tuple[str, ...]:
        values = split_list(self.cleaned_data.get("principals", ""))
        for value in values:
            if value.startswith("spiffe://"):
                raise ValidationError(
                    f"{value!r}: write principals without spiffe:// (Istio's form: cluster.local/ns/<namespace>/sa/<account>)"
                )
        return tuple(values)

    def clean_namespaces(self) -> tuple[str, ...]:
        values = split_list(self.cleaned_data.get("namespaces", ""))
        for value in values:
            if "*" not in value and not is_valid_name(value):
                raise ValidationError(f"{value!r} is not a namespace name")
        return tuple(values)

    def clean_methods(self) -> tuple[str, ...]:
        values = [value.upper() for value in split_list(self.cleaned_data.get("methods", ""))]
        for value in values:
            if not HTTP_METHOD.match(value):
                raise ValidationError(f"{value!r} is not an HTTP method (GET, POST, ...)")
        return tuple(values)

    def clean_paths(self) -> tuple[str, ...]:
        values = split_list(self.cleaned_data.get("paths", ""))
        for value in values:
            if not (value.startswith("/") or value.startswith("*")):
                raise ValidationError(f"{value!r}: a path starts with / (or * for a suffix match)")
        return tuple(values)

    def clean_ports(self) -> tuple[str, ...]:
        values = split_list(self.cleaned_data.get("ports", ""))
        for value in values:
            if not value.isdigit() or not 1 <= int(value) <= 65535:
                raise ValidationError(f"{value!r}: a port is a number from 1 to 65535")
        return tuple(values)  # Istio's schema has ports as strings

    def clean_when(self) -> tuple[documents.Condition, ...]:
        conditions = []
        for number, line in enumerate((self.cleaned_data.get("when") or "").splitlines(), start=1):
            if not line.strip():
                continue
            match = CONDITION.match(line)
            values = tuple(
                v.strip() for v in (match.group("values") if match else "").split(",") if v.strip()
            )
            if not match or not values:
                raise ValidationError(f"line {number}: write key = value[, value] or key != value")
            negated = match.group("op") == "!="
            conditions.append(
                documents.Condition(match.group("key"), () if negated else values, values if negated else ())
            )
        return tuple(conditions)

    def edit(self) -> documents.RuleEdit:
        data = self.cleaned_data
        return documents.RuleEdit(
            source=data.get("source"),
            principals=data["principals"],
            namespaces=data["namespaces"],
            methods=data["methods"],
            paths=data["paths"],
            ports=data["ports"],
            conditions=data["when"],
        )


AuthorizationRuleFormSet = formset_factory(AuthorizationRuleForm, extra=1, can_delete=True, max_num=50)


def _listed(entries: list[dict[str, Any]] | None, key: str, field: str) -> str:
    return ", ".join(str(v) for v in ((entries or [{}])[0].get(key) or {}).get(field) or [])


def rule_rows(existing: Document | None) -> list[dict[str, Any]]:
    """The rules formset's initial rows, one per stored rule."""
    rows = []
    for index, rule in enumerate(((existing or {}).get("spec") or {}).get("rules") or []):
        when = []
        for condition in rule.get("when") or []:
            if condition.get("values"):
                when.append(f"{condition['key']} = {', '.join(condition['values'])}")
            if condition.get("notValues"):
                when.append(f"{condition['key']} != {', '.join(condition['notValues'])}")
        rows.append(
            {
                "source": index,
                "principals": _listed(rule.get("from"), "source", "principals"),
                "namespaces": _listed(rule.get("from"), "source", "namespaces"),
                "methods": _listed(rule.get("to"), "operation", "methods"),
                "paths": _listed(rule.get("to"), "operation", "paths"),
                "ports": _listed(rule.get("to"), "operation", "ports"),
                "when": "\n".join(when),
            }
        )
    return rows


class AuthorizationPolicyForm(SecurityForm):
    """ALLOW / DENY with rules (from principals/namespaces, to methods/paths/ports, when), or one of
    Istio's allow-all / deny-all / allow-nothing forms; for the workloads a selector picks (none:
    the namespace, or the mesh from istio-system). Holds the formset of rules; `is_valid` covers both."""

    kind = "AuthorizationPolicy"
    selector = forms.CharField(
        label="Workload labels",
        required=False,
        max_length=500,
        help_text="e.g. app=reviews; empty: every workload of the namespace (of the mesh in istio-system)",
    )
    preset = forms.ChoiceField(label="Policy", choices=PRESETS, initial=documents.RULES)
    action = forms.ChoiceField(
        label="Action (for rules)",
        choices=[("ALLOW", "ALLOW"), ("DENY", "DENY")],
        initial="ALLOW",
        required=False,
    )
    field_order = ["name", "namespace", "selector", "preset", "action", "reason"]

    def __init__(self, data: Any = None, *, existing: Document | None = None, **kwargs: Any) -> None:
        super().__init__(data, existing=existing, **kwargs)
        if existing is not None:
            spec = existing.get("spec") or {}
            self.initial.update(
                selector=format_labels((spec.get("selector") or {}).get("matchLabels")),
                preset=documents.preset_of(existing),
                action=spec.get("action", "ALLOW"),
            )
        self.rules = AuthorizationRuleFormSet(
            data, initial=None if data is not None else rule_rows(existing), prefix="rule"
        )

    def clean_selector(self) -> dict[str, str]:
        return parse_labels(self.cleaned_data.get("selector", ""))

    def clean_action(self) -> str:
        return self.cleaned_data.get("action") or "ALLOW"

    def is_valid(self) -> bool:
        rules_valid = self.rules.is_valid()
        return super().is_valid() and rules_valid

    def edits(self) -> list[documents.RuleEdit]:
        kept = [f for f in self.rules.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        return [f.edit() for f in kept if f.has_changed() or f.cleaned_data.get("source") is not None]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("preset") == documents.RULES and self.rules.is_valid() and not self.edits():
            self.add_error(
                "preset",
                "give at least one rule, or choose allow-nothing (no rules: every request is denied)",
            )
        return cleaned

    def build(self) -> Document:
        data = self.cleaned_data
        return documents.set_authorization_policy(
            self.existing,
            data["name"],
            data["namespace"],
            data["selector"],
            data["preset"],
            data["action"],
            self.edits(),
        )


class RateLimitForm(SecurityForm):
    """Istio's local rate limit for the workloads a selector picks: a token bucket of `max_tokens`
    requests, refilled by `tokens_per_fill` every `fill_interval`; the excess is answered 429."""

    kind = "EnvoyFilter"
    selector = forms.CharField(label="Workload labels", max_length=500, help_text="e.g. app=details")
    max_tokens = forms.IntegerField(label="Requests at once (max tokens)", min_value=1, max_value=1_000_000)
    tokens_per_fill = forms.IntegerField(
        label="Tokens per fill",
        min_value=1,
        max_value=1_000_000,
        required=False,
        help_text="default: max tokens",
    )
    fill_interval = forms.CharField(
        label="Fill interval", max_length=32, initial="1s", help_text='e.g. "1s", "500ms"'
    )
    field_order = [
        "name",
        "namespace",
        "selector",
        "max_tokens",
        "tokens_per_fill",
        "fill_interval",
        "reason",
    ]

    def __init__(self, data: Any = None, *, existing: Document | None = None, **kwargs: Any) -> None:
        super().__init__(data, existing=existing, **kwargs)
        self.fields["namespace"].initial = documents.ROOT_NAMESPACE
        if existing is None:
            return
        spec = existing.get("spec") or {}
        bucket = (documents.rate_limit_config(existing) or {}).get("token_bucket") or {}
        self.initial.update(
            selector=format_labels((spec.get("workloadSelector") or {}).get("labels")),
            max_tokens=bucket.get("max_tokens"),
            tokens_per_fill=bucket.get("tokens_per_fill"),
            fill_interval=bucket.get("fill_interval", ""),
        )

    def clean_selector(self) -> dict[str, str]:
        labels = parse_labels(self.cleaned_data.get("selector", ""))
        if not labels:
            raise ValidationError("name the labels of the workloads to limit, e.g. app=details")
        return labels

    def clean_fill_interval(self) -> str:
        value = clean_duration(self.cleaned_data.get("fill_interval", ""))
        if value is None:
            raise ValidationError("required, e.g. 1s")
        seconds = parse_duration(value)
        if seconds < MIN_FILL_INTERVAL_S:
            raise ValidationError("must be at least 50ms (Envoy refuses a shorter fill interval)")
        # Envoy's config takes protobuf durations, which are seconds only ("0.5s", not "500ms").
        return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"

    def build(self) -> Document:
        data = self.cleaned_data
        return documents.set_rate_limit(
            self.existing,
            data["name"],
            data["namespace"],
            data["selector"],
            data["max_tokens"],
            data.get("tokens_per_fill") or data["max_tokens"],
            data["fill_interval"],
        )


FORMS: dict[str, tuple[str, type[SecurityForm]]] = {
    "peerauthentications": ("PeerAuthentication (mTLS mode)", PeerAuthenticationForm),
    "authorizationpolicies": ("AuthorizationPolicy (who may call)", AuthorizationPolicyForm),
    "envoyfilters": ("Local rate limit", RateLimitForm),
}
