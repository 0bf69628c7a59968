"""One Django form per route action; each validates every field and builds the Istio documents.

Every form gets the `Target` it edits (the service, its versions, the stored VirtualService and
DestinationRule, or None) and `documents()` returns what to write: the edited VirtualService or
DestinationRule plus, when a version is routed to that has no subset yet, the DestinationRule with
the subsets added. The stored objects' resourceVersions travel in the documents, so an edit made
meanwhile by someone else is a conflict, never a lost update.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import formset_factory

from dashboard.routes import conditions, documents
from dashboard.security.documents import set_peer_authentication
from meshcore.model.durations import parse_duration
from meshcore.model.istio_schema import retry_on_problem
from meshcore.model.regexes import regex_problem

Document = dict[str, Any]
ALL_RULES = "all"


@dataclass(frozen=True)
class Target:
    """What a form edits: a service, its versions and its current routing objects (None if absent)."""

    service: str
    namespace: str
    versions: tuple[str, ...]
    virtual_service: Document | None
    destination_rule: Document | None
    # The PeerAuthentication selecting exactly the service's workloads (app=<service>), if stored.
    peer_authentication: Document | None = None

    def version_of_subset(self) -> dict[str, str]:
        subsets = (self.destination_rule or {}).get("spec", {}).get("subsets", [])
        return {s["name"]: (s.get("labels") or {}).get(documents.VERSION_LABEL, s["name"]) for s in subsets}

    def rules(self) -> list[dict[str, Any]]:
        return list((self.virtual_service or {}).get("spec", {}).get("http", []) or [])


def pin(document: Document, base: str) -> Document:
    """`document` with the resourceVersion the form was opened on. An object that did not exist
    then but does now gets version "0", which the store refuses (409) as it would any stale one."""
    if base == NOT_STORED:
        return documents.with_resource_version(document, "0" if documents.resource_version(document) else "")
    return documents.with_resource_version(document, base) if base else document


def duration_field(label: str, required: bool = False, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label, required=required, help_text=help_text or 'e.g. "500ms", "7s", "1m"', max_length=32
    )


def percent_field(label: str, initial: float | None = 100.0) -> forms.FloatField:
    return forms.FloatField(label=label, required=False, min_value=0, max_value=100, initial=initial)


def clean_duration(value: str) -> str | None:
    """A positive Istio duration string, or None for an empty field."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as error:
        raise ValidationError(str(error)) from None
    if seconds <= 0:
        raise ValidationError("must be greater than 0")
    return value


NOT_STORED = "none"  # the base version of an object that did not exist when the form was opened


class ChangeForm(forms.Form):
    """Fields every change carries: why (optional, kept in the audit log), and the resourceVersions
    of the objects as the form showed them, so applying over a change made meanwhile is a conflict."""

    reason = forms.CharField(label="Reason (for the audit log)", required=False, max_length=500)
    base_virtual_service = forms.CharField(widget=forms.HiddenInput, required=False, max_length=40)
    base_destination_rule = forms.CharField(widget=forms.HiddenInput, required=False, max_length=40)
    base_peer_authentication = forms.CharField(widget=forms.HiddenInput, required=False, max_length=40)

    def __init__(self, *args: Any, target: Target, **kwargs: Any) -> None:
        self.target = target
        super().__init__(*args, **kwargs)
        self.initial.setdefault(
            "base_virtual_service", documents.resource_version(target.virtual_service) or NOT_STORED
        )
        self.initial.setdefault(
            "base_destination_rule", documents.resource_version(target.destination_rule) or NOT_STORED
        )
        self.initial.setdefault(
            "base_peer_authentication", documents.resource_version(target.peer_authentication) or NOT_STORED
        )

    def build(self) -> list[Document]:  # pragma: no cover - every action defines it
        raise NotImplementedError

    def documents(self) -> list[Document]:
        """The documents to apply, each pinned to the version the user saw (see `pin`)."""
        bases = {
            "VirtualService": self.cleaned_data.get("base_virtual_service", ""),
            "DestinationRule": self.cleaned_data.get("base_destination_rule", ""),
            "PeerAuthentication": self.cleaned_data.get("base_peer_authentication", ""),
        }
        return [pin(document, bases.get(document["kind"], "")) for document in self.build()]

    def _with_subsets(self, virtual_service: Document, versions: list[str]) -> list[Document]:
        rule = documents.ensure_subsets(
            self.target.destination_rule, self.target.service, self.target.namespace, versions
        )
        return [rule, virtual_service] if rule is not None else [virtual_service]

    def _subsets(self, versions: list[str]) -> dict[str, str]:
        rule = documents.ensure_subsets(
            self.target.destination_rule, self.target.service, self.target.namespace, versions
        )
        return documents.subset_names(rule or self.target.destination_rule, versions)


class TrafficShiftForm(ChangeForm):
    """Weights per version summing to 100 (the catch-all rule's split), and mirroring with a percent."""

    mirror = forms.ChoiceField(label="Mirror to", required=False)
    mirror_percent = percent_field("Mirror %")

    def __init__(self, *args: Any, target: Target, **kwargs: Any) -> None:
        super().__init__(*args, target=target, **kwargs)
        current = self._current_weights()
        for version in target.versions:
            self.fields[f"weight_{version}"] = forms.IntegerField(
                label=f"{version} %", min_value=0, max_value=100, initial=current.get(version, 0)
            )
        self.fields["mirror"].choices = [("", "no mirroring"), *((v, v) for v in target.versions)]
        self.order_fields([f"weight_{v}" for v in target.versions] + ["mirror", "mirror_percent", "reason"])

    def _current_weights(self) -> dict[str, int]:
        rules = self.target.rules()
        index = documents.catch_all_index(rules)
        if index is None:
            return documents.even_weights(list(self.target.versions))
        version_of = self.target.version_of_subset()
        route = rules[index].get("route", [])
        weights: dict[str, int] = {}
        for item in route:
            version = version_of.get(item.get("destination", {}).get("subset") or "", "")
            if version:
                weights[version] = 100 if len(route) == 1 else int(item.get("weight", 0))
        return weights

    def weight_fields(self) -> list[forms.BoundField]:
        return [self[f"weight_{v}"] for v in self.target.versions]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        weights = {v: cleaned.get(f"weight_{v}") for v in self.target.versions}
        if all(w is not None for w in weights.values()):
            total = sum(weights.values())
            if total != 100:
                for version in self.target.versions:
                    self.add_error(f"weight_{version}", f"weights sum to {total}, must be 100")
        if cleaned.get("mirror") and cleaned.get("mirror_percent") is None:
            self.add_error("mirror_percent", "give the share of requests to mirror (0-100)")
        return cleaned

    def build(self) -> list[Document]:
        weights = {v: self.cleaned_data[f"weight_{v}"] for v in self.target.versions}
        used = [v for v, w in weights.items() if w > 0]
        mirror_version = self.cleaned_data.get("mirror") or None
        needed = used + ([mirror_version] if mirror_version else [])
        subsets = self._subsets(needed)
        shifted = documents.shift_traffic(
            self.target.virtual_service,
            self.target.service,
            self.target.namespace,
            {v: w for v, w in weights.items() if w > 0},
            subsets,
            (subsets[mirror_version], self.cleaned_data["mirror_percent"]) if mirror_version else None,
        )
        return self._with_subsets(shifted, needed)


def _fault_fields() -> dict[str, forms.Field]:
    fields: dict[str, forms.Field] = {
        "delay": duration_field("Delay", help_text='fixed delay, e.g. "7s"'),
        "delay_percent": percent_field("Delayed %"),
        "abort_status": forms.IntegerField(
            label="Abort with HTTP status", required=False, min_value=200, max_value=599
        ),
        "abort_percent": percent_field("Aborted %"),
    }
    hints = {"delay": "7s", "delay_percent": "% delayed", "abort_status": "503", "abort_percent": "% aborted"}
    for name, hint in hints.items():
        fields[name].widget.attrs["placeholder"] = hint
    return fields


def _first_rule_with(target: Target, key: str) -> dict[str, Any]:
    """The first rule that sets `key` (fault, timeout, retries): what the rule-scoped forms show."""
    return next((rule for rule in target.rules() if key in rule), {})


def clean_fault(form: forms.Form, cleaned: Mapping[str, Any]) -> documents.Fault | None:
    delay = cleaned.get("delay")
    status = cleaned.get("abort_status")
    if delay and cleaned.get("delay_percent") is None:
        form.add_error("delay_percent", "give the share of requests to delay (0-100)")
    if status and cleaned.get("abort_percent") is None:
        form.add_error("abort_percent", "give the share of requests to abort (0-100)")
    if not delay and not status:
        return None
    return documents.Fault(
        delay=(delay, cleaned["delay_percent"])
        if delay and cleaned.get("delay_percent") is not None
        else None,
        abort=(status, cleaned["abort_percent"])
        if status and cleaned.get("abort_percent") is not None
        else None,
    )


class RuleForm(forms.Form):
    """One rule of the request-routing form (see dashboard.routes.conditions for the syntax)."""

    source = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)
    conditions = forms.CharField(
        label="Match (empty: every request)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 38, "placeholder": "header end-user exact jason"}),
    )
    route = forms.CharField(label="Route to", help_text="v2, or v1=80 v3=20", max_length=200)
    timeout = duration_field("Timeout")

    def __init__(self, *args: Any, versions: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.versions = versions
        super().__init__(*args, **kwargs)
        self.fields.update(_fault_fields())
        self.fields["delay_percent"].initial = None
        self.fields["abort_percent"].initial = None

    def clean_conditions(self) -> list[dict[str, Any]]:
        try:
            matches = conditions.parse_conditions(self.cleaned_data.get("conditions", ""))
        except conditions.ConditionError as error:
            raise ValidationError(error.messages) from None
        problems = [
            f"{what} regex: {problem}"
            for clause in matches
            for what, value in _string_matches(clause)
            if "regex" in value and (problem := regex_problem(value["regex"]))
        ]
        if problems:
            raise ValidationError(problems)
        return matches

    def clean_route(self) -> dict[str, int | None]:
        try:
            return conditions.parse_weights(self.cleaned_data.get("route", ""), self.versions)
        except conditions.ConditionError as error:
            raise ValidationError(error.messages) from None

    def clean_timeout(self) -> str | None:
        return clean_duration(self.cleaned_data.get("timeout", ""))

    def clean_delay(self) -> str | None:
        return clean_duration(self.cleaned_data.get("delay", ""))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleaned["fault"] = clean_fault(self, cleaned)
        return cleaned


def _string_matches(clause: Mapping[str, Any]) -> list[tuple[str, Mapping[str, str]]]:
    found = [(what, clause[what]) for what in ("uri", "method", "authority") if what in clause]
    for key in ("headers", "queryParams"):
        found += [(f"{key} {name}", value) for name, value in (clause.get(key) or {}).items()]
    return found


RuleFormSet = formset_factory(RuleForm, extra=1, can_order=True, can_delete=True, max_num=50)


def rule_initial(target: Target) -> list[dict[str, Any]]:
    """The request-routing formset's initial rows, one per stored rule (in order)."""
    version_of = target.version_of_subset()
    rows = []
    for index, rule in enumerate(target.rules()):
        fault = rule.get("fault") or {}
        delay, abort = fault.get("delay") or {}, fault.get("abort") or {}
        rows.append(
            {
                "source": index,
                "conditions": conditions.format_conditions(rule.get("match") or []),
                "route": conditions.format_weights(rule.get("route") or [], version_of),
                "timeout": rule.get("timeout", ""),
                "delay": delay.get("fixedDelay", ""),
                "delay_percent": (delay.get("percentage") or {}).get("value"),
                "abort_status": abort.get("httpStatus"),
                "abort_percent": (abort.get("percentage") or {}).get("value"),
                "ORDER": index + 1,
            }
        )
    return rows


class RequestRoutingForm(ChangeForm):
    """Ordered rules with matches, each to a version or weighted versions with its own fault and
    timeout. Holds the formset of rules; `is_valid` covers both."""

    def __init__(self, data: Any = None, *, target: Target, **kwargs: Any) -> None:
        super().__init__(data, target=target, **kwargs)
        self.rules = RuleFormSet(
            data,
            initial=None if data is not None else rule_initial(target),
            prefix="rule",
            form_kwargs={"versions": target.versions},
        )

    def is_valid(self) -> bool:
        rules_valid = self.rules.is_valid()
        return super().is_valid() and rules_valid

    def edits(self) -> list[documents.RuleEdit]:
        kept = [f for f in self.rules.ordered_forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        return [
            documents.RuleEdit(
                source=f.cleaned_data.get("source"),
                matches=f.cleaned_data["conditions"],
                weights=f.cleaned_data["route"],
                fault=f.cleaned_data.get("fault"),
                timeout=f.cleaned_data.get("timeout"),
            )
            for f in kept
            if f.has_changed() or f.cleaned_data.get("source") is not None
        ]

    def build(self) -> list[Document]:
        edits = self.edits()
        versions = list(dict.fromkeys(v for edit in edits for v in edit.weights))
        routed = documents.set_rules(
            self.target.virtual_service,
            self.target.service,
            self.target.namespace,
            edits,
            self._subsets(versions),
        )
        return self._with_subsets(routed, versions)


def rule_choices(target: Target) -> list[tuple[str, str]]:
    choices = [(ALL_RULES, "every rule")]
    for index, rule in enumerate(target.rules()):
        what = conditions.format_conditions(rule.get("match") or []).replace("\n", " ") or "every request"
        choices.append((str(index), f"rule {index + 1}: {what}"))
    return choices


class _RuleScopedForm(ChangeForm):
    rule = forms.ChoiceField(label="Apply to")

    def __init__(self, *args: Any, target: Target, **kwargs: Any) -> None:
        super().__init__(*args, target=target, **kwargs)
        self.fields["rule"].choices = rule_choices(target)

    def indexes(self) -> list[int] | None:
        chosen = self.cleaned_data["rule"]
        return None if chosen == ALL_RULES else [int(chosen)]


class FaultInjectionForm(_RuleScopedForm):
    """Delay (duration, %) and/or abort (HTTP status, %); both empty removes the fault."""

    def __init__(self, *args: Any, target: Target, **kwargs: Any) -> None:
        super().__init__(*args, target=target, **kwargs)
        self.fields.update(_fault_fields())
        self.order_fields(["rule", "delay", "delay_percent", "abort_status", "abort_percent", "reason"])
        fault = _first_rule_with(target, "fault").get("fault") or {}
        delay, abort = fault.get("delay") or {}, fault.get("abort") or {}
        if delay:
            percent = (delay.get("percentage") or {}).get("value")
            self.initial.update(delay=delay.get("fixedDelay", ""), delay_percent=percent)
        if abort:
            percent = (abort.get("percentage") or {}).get("value")
            self.initial.update(abort_status=abort.get("httpStatus"), abort_percent=percent)

    def clean_delay(self) -> str | None:
        return clean_duration(self.cleaned_data.get("delay", ""))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleaned["fault"] = clean_fault(self, cleaned)
        return cleaned

    def build(self) -> list[Document]:
        return [
            documents.set_fault(
                self.target.virtual_service,
                self.target.service,
                self.target.namespace,
                self.cleaned_data["fault"],
                self.indexes(),
            )
        ]


class TimeoutRetryForm(_RuleScopedForm):
    """Request timeout; retries (attempts, per-try timeout, retry-on conditions). Empty removes."""

    timeout = duration_field("Timeout")
    attempts = forms.IntegerField(label="Retry attempts", required=False, min_value=0, max_value=100)
    per_try_timeout = duration_field("Per-try timeout")
    retry_on = forms.CharField(
        label="Retry on", required=False, max_length=300, help_text="e.g. 5xx,connect-failure,503"
    )

    def __init__(self, *args: Any, target: Target, **kwargs: Any) -> None:
        super().__init__(*args, target=target, **kwargs)
        retries = _first_rule_with(target, "retries").get("retries") or {}
        self.initial.update(
            timeout=_first_rule_with(target, "timeout").get("timeout", ""),
            attempts=retries.get("attempts"),
            per_try_timeout=retries.get("perTryTimeout", ""),
            retry_on=retries.get("retryOn", ""),
        )

    def clean_timeout(self) -> str | None:
        return clean_duration(self.cleaned_data.get("timeout", ""))

    def clean_per_try_timeout(self) -> str | None:
        return clean_duration(self.cleaned_data.get("per_try_timeout", ""))

    def clean_retry_on(self) -> str | None:
        value = (self.cleaned_data.get("retry_on") or "").strip()
        if value and (problem := retry_on_problem(value)):
            raise ValidationError(problem)
        return value or None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if (cleaned.get("per_try_timeout") or cleaned.get("retry_on")) and not cleaned.get("attempts"):
            self.add_error("attempts", "set the number of attempts for the retries")
        return cleaned

    def retries(self) -> dict[str, Any] | None:
        attempts = self.cleaned_data.get("attempts")
        if attempts is None:
            return None
        retries: dict[str, Any] = {"attempts": attempts}
        if self.cleaned_data.get("per_try_timeout"):
            retries["perTryTimeout"] = self.cleaned_data["per_try_timeout"]
        if self.cleaned_data.get("retry_on"):
            retries["retryOn"] = self.cleaned_data["retry_on"]
        return retries

    def build(self) -> list[Document]:
        return [
            documents.set_timeouts(
                self.target.virtual_service,
                self.target.service,
                self.target.namespace,
                self.cleaned_data.get("timeout"),
                self.retries(),
                self.indexes(),
            )
        ]


class SuspendForm(ChangeForm):
    """Every request to the service answered 503 (undo it from the revision it creates)."""

    confirm = forms.BooleanField(label="Yes, answer every request to this service with 503", required=True)

    def build(self) -> list[Document]:
        return [documents.suspend(self.target.virtual_service, self.target.service, self.target.namespace)]


LOAD_BALANCERS = [
    ("", "Istio's default (round robin)"),
    ("ROUND_ROBIN", "round robin"),
    ("LEAST_REQUEST", "least request"),
    ("RANDOM", "random"),
    ("HASH_HEADER", "consistent hash on a header"),
    ("HASH_COOKIE", "consistent hash on a cookie"),
    ("HASH_SOURCE_IP", "consistent hash on the source IP"),
]


TLS_MODES = [
    ("", "Istio's auto mTLS (mTLS where the server accepts it)"),
    ("ISTIO_MUTUAL", "ISTIO_MUTUAL (always mTLS)"),
    ("DISABLE", "DISABLE (plaintext)"),
]
PEER_AUTHENTICATION_MODES = [
    ("", "no PeerAuthentication of its own (as the namespace or mesh says)"),
    ("STRICT", "STRICT (mTLS only)"),
    ("PERMISSIVE", "PERMISSIVE (mTLS and plaintext)"),
    ("DISABLE", "DISABLE (plaintext only)"),
]


class TrafficPolicyForm(ChangeForm):
    """The DestinationRule's load balancing, circuit breaking, outlier detection and client TLS
    mode (trafficPolicy.tls.mode), and the mode the service's workloads accept: a PeerAuthentication
    selecting app=<service> (Kiali's wizard does the same). Leaving the PeerAuthentication mode empty
    writes none (a stored one stays as it is; delete it from its page)."""

    load_balancer = forms.ChoiceField(label="Load balancing", choices=LOAD_BALANCERS, required=False)
    hash_key = forms.CharField(label="Header or cookie name", required=False, max_length=100)
    max_connections = forms.IntegerField(label="Max connections", required=False, min_value=1)
    http1_max_pending_requests = forms.IntegerField(label="Max pending requests", required=False, min_value=1)
    max_requests_per_connection = forms.IntegerField(
        label="Max requests per connection", required=False, min_value=1
    )
    max_retries = forms.IntegerField(label="Max concurrent retries", required=False, min_value=1)
    consecutive_5xx_errors = forms.IntegerField(
        label="Eject after consecutive 5xx", required=False, min_value=1
    )
    interval = duration_field("Analysis interval")
    base_ejection_time = duration_field("Base ejection time")
    max_ejection_percent = forms.IntegerField(
        label="Max ejection %", required=False, min_value=0, max_value=100
    )
    tls_mode = forms.ChoiceField(label="Client TLS mode", choices=TLS_MODES, required=False)
    peer_authentication_mode = forms.ChoiceField(
        label="Workloads accept (PeerAuthentication)", choices=PEER_AUTHENTICATION_MODES, required=False
    )

    def __init__(self, *args: Any, target: Target, **kwargs: Any) -> None:
        super().__init__(*args, target=target, **kwargs)
        if args and args[0] is not None:
            return
        policy = (target.destination_rule or {}).get("spec", {}).get("trafficPolicy", {})
        self.initial.update(
            tls_mode=(policy.get("tls") or {}).get("mode", ""),
            peer_authentication_mode=(
                (target.peer_authentication or {}).get("spec", {}).get("mtls") or {}
            ).get("mode", ""),
        )
        balancer = policy.get("loadBalancer") or {}
        hashing = balancer.get("consistentHash") or {}
        tcp = (policy.get("connectionPool") or {}).get("tcp", {})
        http = (policy.get("connectionPool") or {}).get("http", {})
        outlier = policy.get("outlierDetection") or {}
        kind = balancer.get("simple", "")
        if "httpHeaderName" in hashing:
            kind = "HASH_HEADER"
        elif "httpCookie" in hashing:
            kind = "HASH_COOKIE"
        elif hashing.get("useSourceIp"):
            kind = "HASH_SOURCE_IP"
        self.initial.update(
            load_balancer=kind,
            hash_key=hashing.get("httpHeaderName") or (hashing.get("httpCookie") or {}).get("name", ""),
            max_connections=tcp.get("maxConnections"),
            http1_max_pending_requests=http.get("http1MaxPendingRequests"),
            max_requests_per_connection=http.get("maxRequestsPerConnection"),
            max_retries=http.get("maxRetries"),
            consecutive_5xx_errors=outlier.get("consecutive5xxErrors"),
            interval=outlier.get("interval", ""),
            base_ejection_time=outlier.get("baseEjectionTime", ""),
            max_ejection_percent=outlier.get("maxEjectionPercent"),
        )

    def clean_interval(self) -> str | None:
        return clean_duration(self.cleaned_data.get("interval", ""))

    def clean_base_ejection_time(self) -> str | None:
        return clean_duration(self.cleaned_data.get("base_ejection_time", ""))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if (
            cleaned.get("load_balancer") in ("HASH_HEADER", "HASH_COOKIE")
            and not (cleaned.get("hash_key") or "").strip()
        ):
            self.add_error("hash_key", "name the header or cookie to hash on")
        outlier_timing = (
            cleaned.get("interval")
            or cleaned.get("base_ejection_time")
            or cleaned.get("max_ejection_percent") is not None
        )
        if outlier_timing and not cleaned.get("consecutive_5xx_errors"):
            self.add_error(
                "consecutive_5xx_errors", "outlier detection needs the number of consecutive errors"
            )
        return cleaned

    def _load_balancer(self) -> dict[str, Any] | None:
        kind, key = self.cleaned_data.get("load_balancer"), (self.cleaned_data.get("hash_key") or "").strip()
        if not kind:
            return None
        if kind == "HASH_HEADER":
            return {"consistentHash": {"httpHeaderName": key.lower()}}
        if kind == "HASH_COOKIE":
            return {"consistentHash": {"httpCookie": {"name": key, "ttl": "0s"}}}
        if kind == "HASH_SOURCE_IP":
            return {"consistentHash": {"useSourceIp": True}}
        return {"simple": kind}

    def _section(self, names: Mapping[str, str]) -> dict[str, Any]:
        return {
            key: self.cleaned_data[field]
            for field, key in names.items()
            if self.cleaned_data.get(field) not in (None, "")
        }

    def build(self) -> list[Document]:
        tcp = self._section({"max_connections": "maxConnections"})
        http = self._section(
            {
                "http1_max_pending_requests": "http1MaxPendingRequests",
                "max_requests_per_connection": "maxRequestsPerConnection",
                "max_retries": "maxRetries",
            }
        )
        pool = {k: v for k, v in (("tcp", tcp), ("http", http)) if v} or None
        outlier = (
            self._section(
                {
                    "consecutive_5xx_errors": "consecutive5xxErrors",
                    "interval": "interval",
                    "base_ejection_time": "baseEjectionTime",
                    "max_ejection_percent": "maxEjectionPercent",
                }
            )
            or None
        )
        rule = documents.set_traffic_policy(
            self.target.destination_rule,
            self.target.service,
            self.target.namespace,
            self._load_balancer(),
            pool,
            outlier,
        )
        built = [documents.set_tls_mode(rule, self.cleaned_data.get("tls_mode") or None)]
        mode = self.cleaned_data.get("peer_authentication_mode")
        if mode:
            built.append(
                set_peer_authentication(
                    self.target.peer_authentication,
                    self.target.service,
                    self.target.namespace,
                    {"app": self.target.service},
                    mode,
                    _stored_port_modes(self.target.peer_authentication),
                )
            )
        return built


def _stored_port_modes(document: Document | None) -> dict[int, str]:
    """The stored portLevelMtls (kept: this form sets only the workloads' overall mode)."""
    ports = ((document or {}).get("spec") or {}).get("portLevelMtls") or {}
    return {int(port): (entry or {}).get("mode", "UNSET") for port, entry in ports.items()}


ACTIONS: dict[str, tuple[str, type[ChangeForm]]] = {
    "traffic-shifting": ("Traffic shifting", TrafficShiftForm),
    "request-routing": ("Request routing", RequestRoutingForm),
    "fault-injection": ("Fault injection", FaultInjectionForm),
    "timeouts": ("Timeouts and retries", TimeoutRetryForm),
    "traffic-policy": ("Load balancing & circuit breaking", TrafficPolicyForm),
    "suspend": ("Suspend traffic", SuspendForm),
}


class YamlForm(forms.Form):
    """Any routing objects as YAML (what `kubectl apply -f` takes), for the editor and import."""

    yaml = forms.CharField(
        label="YAML", widget=forms.Textarea(attrs={"rows": 28, "cols": 100, "spellcheck": "false"})
    )
    file = forms.FileField(label="or upload a file", required=False)
    reason = forms.CharField(label="Reason (for the audit log)", required=False, max_length=500)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.files.get("file"):
            self.fields["yaml"].required = False

    def text(self) -> str:
        upload = self.cleaned_data.get("file")
        if upload:
            return upload.read().decode("utf-8", errors="replace")
        return self.cleaned_data["yaml"]
