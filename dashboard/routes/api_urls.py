"""JSON API routes of the routes app (mounted at /api/ by the root URLconf)."""

from django.urls import path

from dashboard.routes import api

app_name = "routes-api"

urlpatterns = [
    path("istio/<str:namespace>/<str:plural>", api.list_objects, name="list"),
    path("istio/<str:namespace>/<str:plural>/<str:name>", api.object_view, name="object"),
    path("routes/preview", api.preview, name="preview"),
    path("routes/revisions", api.revisions, name="revisions"),
    path("routes/revisions/<int:revision_id>", api.revision, name="revision"),
    path("routes/revisions/<int:revision_id>/rollback", api.rollback, name="rollback"),
    path("routes/revisions/<int:revision_id>/impact", api.impact, name="impact"),
    path("routes/sync", api.sync, name="sync"),
]
