"""The audit log of route changes: one revision per change, made here or seen from outside."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Revision(models.Model):
    """One change of one Istio object: who, when, why, the YAML before and after, the push result.

    `yaml_before` is "" for a creation, `yaml_after` "" for a deletion. `source` says whether the
    change was made through the dashboard or found later (meshcore apply, kubectl: `external`, with
    no user). `push` holds what the proxies answered ({"acked": [...], "rejected": [{node_id,
    message}], "pending": [...]}), None when unknown. A rollback is a new revision whose
    `rollback_of` names the revision it restored.
    """

    SOURCE_DASHBOARD = "dashboard"
    SOURCE_EXTERNAL = "external"
    SOURCES = [(SOURCE_DASHBOARD, "dashboard"), (SOURCE_EXTERNAL, "external")]

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, blank=True)  # kept when the account is deleted
    source = models.CharField(max_length=16, choices=SOURCES, default=SOURCE_DASHBOARD)
    action = models.CharField(max_length=16)  # created | configured | deleted
    reason = models.TextField(blank=True)
    kind = models.CharField(max_length=40)
    namespace = models.CharField(max_length=63)
    name = models.CharField(max_length=63)
    yaml_before = models.TextField(blank=True)
    yaml_after = models.TextField(blank=True)
    resource_version_before = models.CharField(max_length=40, blank=True)
    resource_version_after = models.CharField(max_length=40, blank=True)
    push = models.JSONField(null=True, blank=True)
    services = models.JSONField(default=list)  # registry services the object touches (for charts)
    rollback_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "namespace", "name", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name} {self.action} by {self.username or self.source}"

    @property
    def plural(self) -> str:
        from dashboard.sources.routestore import KIND_PLURALS

        return KIND_PLURALS.get(self.kind, self.kind.lower() + "s")

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "user": self.username,
            "source": self.source,
            "action": self.action,
            "reason": self.reason,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "plural": self.plural,
            "yaml_before": self.yaml_before,
            "yaml_after": self.yaml_after,
            "resource_version_before": self.resource_version_before,
            "resource_version_after": self.resource_version_after,
            "push": self.push,
            "services": self.services,
            "rollback_of": self.rollback_of_id,
        }
