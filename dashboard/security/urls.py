from django.urls import path

from dashboard.security import views

app_name = "security"

urlpatterns = [
    path("", views.security_page, name="page"),
    path("new/<str:plural>/", views.new_object, name="new"),
    path("<str:plural>/<str:namespace>/<str:name>/edit/", views.edit_object, name="edit"),
]
