"""Typed environment readers and the system checks that validate settings at start."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured

from dashboard.core.checks import check_meshscope_settings
from dashboard.env import env_bool, env_float, env_int, env_list, env_secret, env_str, install_secret


def test_env_bool(monkeypatch):
    assert env_bool("MS_TEST_FLAG", True) is True
    for raw, expected in (
        ("1", True),
        ("yes", True),
        ("On", True),
        ("0", False),
        ("false", False),
        ("", False),
    ):
        monkeypatch.setenv("MS_TEST_FLAG", raw)
        assert env_bool("MS_TEST_FLAG") is expected
    monkeypatch.setenv("MS_TEST_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="MS_TEST_FLAG='maybe'"):
        env_bool("MS_TEST_FLAG")


def test_env_int_and_float(monkeypatch):
    assert env_int("MS_TEST_N", 7) == 7
    monkeypatch.setenv("MS_TEST_N", "12")
    assert env_int("MS_TEST_N", 7) == 12
    with pytest.raises(ImproperlyConfigured, match="must be >= 20"):
        env_int("MS_TEST_N", 7, minimum=20)
    monkeypatch.setenv("MS_TEST_N", "twelve")
    with pytest.raises(ImproperlyConfigured, match="expected an integer"):
        env_int("MS_TEST_N", 7)
    monkeypatch.setenv("MS_TEST_F", "0.5")
    assert env_float("MS_TEST_F", 1.0) == 0.5
    with pytest.raises(ImproperlyConfigured, match="must be >= 1"):
        env_float("MS_TEST_F", 1.0, minimum=1)


def test_env_str_and_list(monkeypatch):
    assert env_str("MS_TEST_S", "default") == "default"
    monkeypatch.setenv("MS_TEST_L", "a, b,,c ")
    assert env_list("MS_TEST_L", []) == ["a", "b", "c"]


def test_secrets_come_from_the_variable_or_a_file(monkeypatch, tmp_path):
    assert env_secret("MS_TEST_SECRET", "fallback") == "fallback"
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    monkeypatch.setenv("MS_TEST_SECRET_FILE", str(secret_file))
    assert env_secret("MS_TEST_SECRET") == "from-file"
    monkeypatch.setenv("MS_TEST_SECRET", "direct")
    assert env_secret("MS_TEST_SECRET") == "direct"
    monkeypatch.delenv("MS_TEST_SECRET")
    monkeypatch.setenv("MS_TEST_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="MS_TEST_SECRET_FILE"):
        env_secret("MS_TEST_SECRET")


def test_default_settings_pass_the_checks():
    assert [p for p in check_meshscope_settings() if isinstance(p, Error)] == []


def test_cluster_mode_settings_pass_the_checks(settings):
    settings.CLUSTER_MODE, settings.REGISTRY_SOURCE = "kubernetes", "kubernetes"
    assert [p for p in check_meshscope_settings() if isinstance(p, Error)] == []


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("MESHCORE_API_URL", "ftp://x", "MESHCORE_API_URL"),
        ("MESHCORE_TRACER_URL", "not a url", "MESHCORE_TRACER_URL"),
        ("REDIS_URL", "http://127.0.0.1:6379", "REDIS_URL"),
        ("REGISTRY_SOURCE", "consul", "MESHSCOPE_REGISTRY_SOURCE"),
    ],
)
def test_bad_settings_are_reported_by_name(settings, name, value, fragment):
    setattr(settings, name, value)
    errors = [p for p in check_meshscope_settings() if isinstance(p, Error)]
    assert errors and fragment in errors[0].msg


def test_inverted_health_thresholds_are_an_error(settings):
    settings.HEALTH_DEGRADED_ERROR_PCT = 50
    settings.HEALTH_FAILING_ERROR_PCT = 10
    assert any(p.id == "meshscope.E002" for p in check_meshscope_settings())


def test_database_url_switches_to_postgresql(monkeypatch):
    reloaded = reload_settings(monkeypatch, DATABASE_URL="postgres://meshscope:pw@db.example:5432/meshscope")
    assert reloaded.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert reloaded.DATABASES["default"]["HOST"] == "db.example"


def reload_settings(monkeypatch, **env: str):
    """dashboard.settings as a process with `env` would compute it (restored afterwards)."""
    import importlib

    import dashboard.settings as module

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        # A copy of the values: the module itself is reloaded again below.
        return SimpleNamespace(**vars(importlib.reload(module)))
    finally:
        for name in env:
            monkeypatch.delenv(name)
        importlib.reload(module)


def test_secret_key_is_generated_once_per_install_and_kept_private(monkeypatch, tmp_path):
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    # The embedded default (no external database), also when the suite runs on PostgreSQL.
    monkeypatch.delenv("DATABASE_URL", raising=False)
    first = reload_settings(monkeypatch, MESHSCOPE_STATE_DIR=str(tmp_path))
    key_file = tmp_path / "secret-key"
    assert key_file.read_text().strip() == first.SECRET_KEY and len(first.SECRET_KEY) >= 50
    assert key_file.stat().st_mode & 0o777 == 0o600 and not first.SECRET_KEY_MISSING
    assert reload_settings(monkeypatch, MESHSCOPE_STATE_DIR=str(tmp_path)).SECRET_KEY == first.SECRET_KEY
    assert install_secret(tmp_path / "other") != first.SECRET_KEY


def test_a_missing_secret_key_with_an_external_database_is_an_error(monkeypatch, tmp_path, settings):
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    production = reload_settings(
        monkeypatch, MESHSCOPE_STATE_DIR=str(tmp_path), DATABASE_URL="postgres://u:p@db.example:5432/m"
    )
    assert production.SECRET_KEY_MISSING and not (tmp_path / "secret-key").exists()
    settings.SECRET_KEY_MISSING = True
    assert any(p.id == "meshscope.E004" and "DJANGO_SECRET_KEY" in p.msg for p in check_meshscope_settings())
    given = reload_settings(
        monkeypatch, DJANGO_SECRET_KEY="given-key", DATABASE_URL="postgres://u:p@db.example:5432/m"
    )
    assert given.SECRET_KEY == "given-key" and not given.SECRET_KEY_MISSING


def test_password_validators_are_on():
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        validate_password("12345678")
    validate_password("correct horse battery staple")


def test_secure_cookies_setting_turns_on_secure_cookies_and_hsts(monkeypatch):
    secure = reload_settings(monkeypatch, MESHSCOPE_SECURE_COOKIES="1")
    assert secure.SESSION_COOKIE_SECURE and secure.CSRF_COOKIE_SECURE and secure.SECURE_HSTS_SECONDS > 0
    plain = reload_settings(monkeypatch, MESHSCOPE_SECURE_COOKIES="0")
    assert not plain.SESSION_COOKIE_SECURE and plain.SECURE_HSTS_SECONDS == 0
