"""What a browser may load: images under /assets (only images), Swagger UI from the installed package, clean 422s."""
import re
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

# Magic bytes decide the type, never the name: an `evil.html` or `.svg` is not an image we serve.
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))
ASSET_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
                 "Cache-Control": "public, max-age=3600"}
_DOCS = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ad-creative pipeline · API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head><body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script><script src="/docs/init.js"></script></body></html>"""
_INIT = 'window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});'


def image_type(path: Path) -> str | None:
    """png, jpeg or webp by content; None for anything else."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((t for magic, t in _MAGIC if head.startswith(magic)), None)


def assets_router(assets_dir: Path) -> APIRouter:
    """GET /assets/<path>: a png/jpeg/webp inside assets_dir, else 404 (links out, loops, other files)."""
    router = APIRouter(include_in_schema=False)
    root = Path(assets_dir).resolve()

    @router.api_route("/assets/{rel:path}", methods=["GET", "HEAD"])
    async def asset(rel: str):
        try:
            path = (root / rel).resolve(strict=True)  # a symlink loop raises instead of hanging
            if root not in path.parents or not path.is_file():
                raise FileNotFoundError(rel)
            media_type = image_type(path)
        except (OSError, RuntimeError, ValueError):
            media_type = None
        if media_type is None:
            raise HTTPException(status_code=404, detail="not found")
        return FileResponse(path, media_type=media_type, headers=ASSET_HEADERS)
    return router


# An absolute path (not a URL's path: it must not follow a word character, `:` or `/`).
_ABS_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s'\"/]+/)+([^\s'\"/]+)")


def public_status(status):
    """Model status for /healthz with absolute file paths cut to their names (no server layout in answers)."""
    if isinstance(status, dict):
        return {k: public_status(v) for k, v in status.items()}
    if isinstance(status, list):
        return [public_status(v) for v in status]
    return _ABS_PATH.sub(r"\1", status) if isinstance(status, str) else status


def _escape_surrogates(value):
    """Lone surrogates (valid in Python, not in UTF-8) written as `\\ud800` text, so every error encodes."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_escape_surrogates(k): _escape_surrogates(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escape_surrogates(v) for v in value]
    return value


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": _escape_surrogates(jsonable_encoder(exc.errors()))})


def install(app: FastAPI, assets_dir: Path) -> None:
    """Mount assets, the offline Swagger UI and the 422 handler on `app` (created with docs_url=None)."""
    import swagger_ui  # swagger-ui-py ships the Swagger UI 5 dist (OpenAPI 3.1): no CDN, so nothing to pin with SRI

    app.include_router(assets_router(assets_dir))
    # Starlette types a handler as taking any Exception; it calls this one for RequestValidationError only.
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.mount("/docs/static", StaticFiles(directory=Path(swagger_ui.__file__).parent / "static"), name="swagger")
    app.add_api_route("/docs", lambda: HTMLResponse(_DOCS), include_in_schema=False)
    app.add_api_route("/docs/init.js", lambda: Response(_INIT, media_type="text/javascript"), include_in_schema=False)
