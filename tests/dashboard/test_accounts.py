"""Login everywhere, the viewer/operator roles and the first admin."""

from __future__ import annotations

import stat
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from dashboard.accounts.bootstrap import ensure_admin
from dashboard.accounts.roles import is_operator, role_of

pytestmark = pytest.mark.django_db


def test_roles_exist_after_migrations():
    assert set(Group.objects.values_list("name", flat=True)) >= {"viewer", "operator"}


@pytest.mark.parametrize("path", ["/", "/services/", "/services/reviews/", "/services/sidecars/reviews-v1/"])
def test_pages_redirect_anonymous_users_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize(
    "path", ["/api/topology", "/api/topology/history?minutes=5", "/api/services/reviews/metrics"]
)
def test_apis_answer_401_to_anonymous_users(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.json() == {"error": "authentication required", "errors": []}


def test_login_and_logout(client, viewer):
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and b'name="password"' in page.content
    wrong = client.post("/accounts/login/", {"username": "viewer1", "password": "nope"})
    assert wrong.status_code == 200 and b"Wrong username or password" in wrong.content
    ok = client.post("/accounts/login/", {"username": "viewer1", "password": "viewer-pass-1"})
    assert ok.status_code == 302 and ok["Location"] == "/"
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_roles(viewer, django_user_model):
    assert role_of(viewer) == "viewer" and not is_operator(viewer)
    operator = django_user_model.objects.create_user("op", password="x")
    operator.groups.add(Group.objects.get(name="operator"))
    assert role_of(operator) == "operator" and is_operator(operator)


def test_ensure_admin_generates_a_password_once_and_reuses_it(tmp_path, django_user_model):
    password_file = tmp_path / "admin-password"
    first = ensure_admin("admin", None, password_file)
    assert first.created and first.generated_password
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    admin = django_user_model.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(first.generated_password)
    assert is_operator(admin)
    again = ensure_admin("admin", None, password_file)
    assert not again.created and again.generated_password is None
    assert django_user_model.objects.filter(username="admin").count() == 1


def test_ensure_admin_uses_and_updates_the_given_password(tmp_path, django_user_model):
    ensure_admin("boss", "first-pass", tmp_path / "unused")
    assert not (tmp_path / "unused").exists()
    ensure_admin("boss", "second-pass", None)
    assert django_user_model.objects.get(username="boss").check_password("second-pass")


def test_ensure_admin_command_reads_the_environment(monkeypatch, tmp_path, settings, django_user_model):
    settings.STATE_DIR = tmp_path
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "chief")
    secret = tmp_path / "pw"
    secret.write_text("pw-from-file\n")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD_FILE", str(secret))
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    assert "Created admin 'chief'" in out.getvalue() and "pw-from-file" not in out.getvalue()
    assert django_user_model.objects.get(username="chief").check_password("pw-from-file")


def test_ensure_admin_command_prints_a_generated_password(monkeypatch, tmp_path, settings):
    settings.STATE_DIR = tmp_path
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    password = (tmp_path / "admin-password").read_text().strip()
    assert f"password: {password}" in out.getvalue()
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    assert password not in out.getvalue() and "exists" in out.getvalue()
