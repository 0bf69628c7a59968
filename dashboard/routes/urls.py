from django.urls import path

from dashboard.routes import views

app_name = "routes"

urlpatterns = [
    path("", views.route_list, name="list"),
    path("import/", views.import_yaml, name="import"),
    path("export.yaml", views.export_all, name="export"),
    path("apply/", views.apply_proposal, name="apply"),
    path("services/<str:service_name>/<str:action>/", views.service_action, name="action"),
    path("revisions/", views.revision_list, name="revisions"),
    path("revisions/<int:revision_id>/", views.revision_detail, name="revision"),
    path("revisions/<int:revision_id>/rollback/", views.revision_rollback, name="rollback"),
    path("<str:plural>/<str:namespace>/<str:name>/", views.object_detail, name="object"),
    path("<str:plural>/<str:namespace>/<str:name>/yaml/", views.yaml_editor, name="yaml"),
    path("<str:plural>/<str:namespace>/<str:name>/export.yaml", views.export_object, name="export-object"),
    path("<str:plural>/<str:namespace>/<str:name>/delete/", views.delete_object, name="delete"),
]
