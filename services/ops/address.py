"""The address this process really listens on, and the proof that the dispatch target is this service."""
import asyncio
import hashlib
import hmac
import ipaddress
import logging
import secrets
import signal
import uuid

import httpx

from config import Settings

log = logging.getLogger(__name__)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str | None) -> bool:
    """True for localhost, all of 127.0.0.0/8, ::1 and unix socket paths (file permissions guard those)."""
    if not host:
        return False
    if host == "localhost" or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def uvicorn_server():
    """The uvicorn.Server running this app, if uvicorn runs in the main thread (its SIGTERM handler is bound to it)."""
    handler = signal.getsignal(signal.SIGTERM)
    server = getattr(handler, "__self__", None)
    return server if type(server).__name__ == "Server" and hasattr(server, "config") else None


def _url(host: str, port: int) -> str:
    # A wildcard bind is reached through loopback; IPv6 literals need brackets.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class SelfAddress:
    """Finds the base URL that reaches this very process (instance id on /healthz) before anything is sent."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.instance_id = uuid.uuid4().hex
        self.target: str | None = None
        self.problem: str | None = "dispatch target not verified yet"
        self._seen: set[tuple[str, int]] = set()  # local addresses requests arrived on
        self._verified = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.server = None  # the uvicorn.Server, taken at lifespan start before anyone replaces its signal handler

    def observe(self, scope: dict) -> None:
        """Remember the local address of a request (the ASGI `server` of the socket it came in on)."""
        server = scope.get("server")
        if server and server[1] and len(self._seen) < 16:
            self._seen.add((server[0], server[1]))

    def candidates(self) -> list[str]:
        """Base URLs to try: STAGE_BASE_URL alone if set, else the real sockets, then the settings."""
        if self.settings.stage_base_url:
            return [self.settings.stage_base_url.rstrip("/")]
        urls = []
        server = self.server or uvicorn_server()
        for srv in getattr(server, "servers", None) or []:
            for sock in srv.sockets:
                name = sock.getsockname()
                if isinstance(name, tuple):
                    urls.append(_url(name[0], name[1]))
        urls += [_url(h, p) for h, p in sorted(self._seen)]
        urls.append(_url(self.settings.host, self.settings.port))
        return list(dict.fromkeys(urls))

    def proof(self, challenge: str | None) -> str | None:
        """HMAC of a probe's challenge with API_KEY: another instance sharing the key proves it without sending it."""
        if not challenge or not self.settings.api_key:
            return None
        return hmac.new(self.settings.api_key.encode(), challenge.encode(), hashlib.sha256).hexdigest()

    def _is_us(self, answer, challenge: str) -> bool:
        if not isinstance(answer, dict) or "instance" not in answer:
            return False
        if answer["instance"] == self.instance_id:
            return True  # this very process
        if self.settings.api_key:  # another instance (e.g. a GPU host) must know the key
            return isinstance(answer.get("proof"), str) and hmac.compare_digest(answer["proof"], self.proof(challenge))
        return bool(self.settings.stage_base_url)  # no key at stake: an explicit target only has to be this service

    async def verify_once(self, client: httpx.AsyncClient) -> bool:
        """Probe each candidate's /healthz (no key sent); keep the first that proves to be this service."""
        reasons = []
        for base in self.candidates():
            challenge = secrets.token_hex(16)
            try:
                answer = (await client.get(f"{base}/healthz", params={"challenge": challenge}, timeout=5)).json()
                if self._is_us(answer, challenge):
                    self.target, self.problem = base, None
                    self._verified.set()
                    log.info("dispatching stage requests to %s", base)
                    return True
                reasons.append(f"{base} answers as another service")
            except (httpx.HTTPError, ValueError, OSError) as exc:
                reasons.append(f"{base} unreachable ({type(exc).__name__})")
        self.problem = "dispatch target is not this service: " + "; ".join(reasons)
        return False

    def start(self, server=None) -> None:
        """Verify in the background until it succeeds (the sockets are bound only after the lifespan starts)."""
        self.server = server
        async def loop():
            delay = 0.05
            async with httpx.AsyncClient() as client:
                while not await self.verify_once(client):
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        self._task = asyncio.create_task(loop(), name="self-address")

    async def stop(self) -> None:
        """Stop verifying (shutdown)."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait_target(self, timeout: float = 10.0) -> str | None:
        """The verified base URL, waiting up to `timeout`; None means nothing may be sent."""
        try:
            await asyncio.wait_for(self._verified.wait(), timeout)
        except TimeoutError:
            return None
        return self.target
