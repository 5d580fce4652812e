"""The service refuses to listen beyond localhost without an API key for its write endpoints."""
import pytest

from config import Settings
from main import create_app


def test_public_host_without_api_key_refuses_to_start(tmp_path):
    with pytest.raises(RuntimeError, match="API_KEY"):
        create_app(Settings(_env_file=None, host="0.0.0.0", api_key="", assets_dir=tmp_path))


def test_public_host_with_api_key_and_localhost_without_one_start(tmp_path):
    assert create_app(Settings(_env_file=None, host="0.0.0.0", api_key="k", assets_dir=tmp_path))
    assert create_app(Settings(_env_file=None, host="127.0.0.1", api_key="", assets_dir=tmp_path))
