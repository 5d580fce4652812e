"""Pure parts of dashboard access and downloads: secrets, cookies, redirects, file names, the time zone setting."""
import pytest
from pydantic import ValidationError

from config import Settings
from routers.dashboard_auth import _next_path
from routers.downloads import disposition, slug
from services.ops.access import cookies, match_secret


def _settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_secrets_map_to_who_is_asking():
    settings = _settings(api_key="k", dashboard_password="p", tenant_read_keys={"a": "ka", "b": "kb"})
    assert match_secret(settings, "k") == ("api_key", None)
    assert match_secret(settings, b"p") == ("dashboard_password", None)
    assert match_secret(settings, "kb") == ("tenant_read_key", "b")
    for wrong in ("", "K", "ka ", b"\xff", "schl\u00fcssel"):
        assert match_secret(settings, wrong) is None, wrong
    assert match_secret(_settings(), "") is None  # nothing configured: an empty secret is no login


def test_cookies_and_redirects():
    assert cookies({"cookie": b"a=1; dash_session=tok; a=2"}) == {"a": "1", "dash_session": "tok"}
    assert cookies({}) == {}
    assert _next_path("/dashboard/jobs/x?lang=en") == "/dashboard/jobs/x?lang=en"
    for hostile in ("https://evil.example/", "//evil.example/dashboard", "/dashboard\\@evil", "/api/yh/jobs", None):
        assert _next_path(hostile) == "/dashboard", hostile


def test_download_names_keep_hangul_and_stay_safe():
    assert slug("해오름 커피") == "해오름-커피"
    assert slug('../../etc/"passwd"') == "etc-passwd"
    assert slug("  ") == "store" and slug(None) == "store"
    header = disposition("해오름-커피_7a79ef8f_v3_selected.png")
    assert header.startswith('attachment; filename="7a79ef8f_v3_selected.png"')
    assert "filename*=UTF-8''%ED%95%B4" in header


def test_display_timezone_must_exist():
    assert _settings().display_timezone == "Asia/Seoul"
    with pytest.raises(ValidationError):
        _settings(display_timezone="Mars/Base")
