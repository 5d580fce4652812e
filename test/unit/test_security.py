"""Small security rules: what counts as loopback, which Host names pass, paths cut to ASSETS_DIR, safe image URLs."""
import pytest

from config import Settings
from main import create_app
from routers.ui import local_asset
from routers.web import public_status
from services.errors import InputError, relative_paths
from services.imaging.imageio import resolve_asset_path
from services.ops.address import is_loopback
from services.ops.security import _host_ok, _hostname, allowed_hosts


def test_settings_alone_never_refuse_to_build_the_app(tmp_path):
    # The refusal looks at the socket the launcher binds (lifespan / each request), not at HOST.
    assert create_app(Settings(_env_file=None, host="0.0.0.0", api_key="", assets_dir=tmp_path))


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("127.255.1.9", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("/run/app.sock", True), ("0.0.0.0", False), ("::", False), ("192.0.2.2", False),
    ("10.0.0.1", False), ("example.com", False), ("", False), (None, False)])
def test_all_of_127_8_and_ipv6_loopback_count_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_allowed_hosts_default_to_loopback_names_and_the_bind_address():
    default = allowed_hosts(Settings(_env_file=None, host="10.0.0.7"))
    assert {"localhost", "127.0.0.1", "::1", "10.0.0.7"} <= default and "evil.example" not in default
    listed = allowed_hosts(Settings(_env_file=None, allowed_hosts="api.example, *.corp.example",
                                    stage_base_url="http://gpu-box:9000"))
    assert listed == {"api.example", "*.corp.example", "gpu-box"}  # the dispatch target's name always passes
    assert _host_ok("x.corp.example", listed, None) and not _host_ok("corp.example.evil", listed, None)
    assert _host_ok("192.0.2.2", listed, "192.0.2.2")  # the local address the connection came in on
    assert [_hostname(h) for h in ("LocalHost:8000", "[::1]:8000", "::1", "a.b")] == ["localhost", "::1", "::1", "a.b"]


def test_errors_name_files_relative_to_the_assets_dir(tmp_path):
    assets = tmp_path / "assets"
    assets.mkdir()
    assert relative_paths(f"FileNotFoundError: [Errno 2] No such file: '{assets}/masks/x.png'", assets) == \
        "FileNotFoundError: [Errno 2] No such file: 'masks/x.png'"
    with pytest.raises(InputError) as failed:
        resolve_asset_path("/assets/" + "a" * 300 + ".png", assets)  # longer than a file name may be
    assert str(tmp_path) not in str(failed.value) and "too long" in str(failed.value)


def test_healthz_model_status_shows_file_names_only():
    status = {"font": "/usr/lib/python3/site-packages/fonts/NotoSansKR.otf", "vlm": {"path": "/models/llava", "n": 3},
              "detector": "fallback: cannot load '/models/yolo/best.pt' (missing)", "url": "http://host:1/v1/models"}
    assert public_status(status) == {"font": "NotoSansKR.otf", "vlm": {"path": "llava", "n": 3},
                                     "detector": "fallback: cannot load 'best.pt' (missing)", "url": "http://host:1/v1/models"}


@pytest.mark.parametrize("url, shown", [
    ("/assets/samples/a.png", True), ("http://tracker.example/p.png", False), ("//evil.example/a.png", False),
    ("/assets//evil.example/a.png", False), ("/assets/../secret.png", False), ("data:image/png;base64,AAAA", False),
    ("javascript:alert(1)", False), ("/assets/a.png?x=1", False), ("/assets/a\\b.png", False), (None, False)])
def test_dashboard_renders_only_local_asset_urls(url, shown):
    assert (local_asset(url) is not None) is shown
