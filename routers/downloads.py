"""Downloads: an overlaid image named after store, job and variant, and one zip bundle per job."""
import asyncio
import io
import re
import unicodedata
import zipfile
from pathlib import Path
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from routers.deps import PoolDep
from routers.ui import local_asset
from routers.web import image_type
from services.engine import jobs_view
from services.ops import store as ops_store

router = APIRouter(prefix="/api/yh/jobs", tags=["jobs"])
_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def slug(text: str | None, fallback: str = "store") -> str:
    """A file-name part: letters (Hangul too), digits, '-' and '_'; at most 40 characters."""
    text = unicodedata.normalize("NFC", text or "")
    cleaned = re.sub(r"[^\w-]+", "-", text, flags=re.UNICODE).strip("-_")[:40]
    return cleaned or fallback


def disposition(filename: str) -> str:
    """Content-Disposition with an ASCII name for old clients and the UTF-8 one (RFC 6266 / 5987)."""
    ascii_name = re.sub(r"-{2,}", "-", filename.encode("ascii", "ignore").decode()).replace('"', "").lstrip("-_")
    return f"attachment; filename=\"{ascii_name or 'download'}\"; filename*=UTF-8''{quote(filename)}"


def _asset_file(assets_dir: Path, url: str | None) -> Path | None:
    """The file behind a local /assets URL, only inside ASSETS_DIR (the same rules as GET /assets)."""
    if not local_asset(url):
        return None
    root = Path(assets_dir).resolve()
    try:
        path = (root / url.removeprefix("/assets/")).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return path if root in path.parents and path.is_file() and image_type(path) else None


async def _job(pool, job_id: UUID) -> tuple[dict, str]:
    detail = await jobs_view.job_detail(pool, job_id)
    if detail is None:
        raise HTTPException(status_code=404, detail=f"job {job_id} not found")
    return detail, slug(await ops_store.job_store_name(pool, job_id=job_id))


def image_name(store: str, job_id: UUID, variant: dict, path: Path) -> str:
    """`<store>_<job 8>_v<order>[_selected].<ext>`."""
    mark = "_selected" if variant["selected"] else ""
    return f"{store}_{str(job_id)[:8]}_v{variant['creation_order']}{mark}.{_EXT[image_type(path) or 'image/png']}"


@router.get("/{job_id}/variants/{job_variants_id}/image", responses={404: {"description": "Unknown job or variant"}})
async def download_image(request: Request, job_id: UUID, job_variants_id: UUID, pool: PoolDep):
    """The variant's overlaid image as an attachment named after the store, the job and the variant."""
    detail, store = await _job(pool, job_id)
    variant = next((v for v in detail["variants"] if v["job_variants_id"] == job_variants_id), None)
    if variant is None:
        raise HTTPException(status_code=404, detail=f"variant {job_variants_id} not in job {job_id}")
    path = _asset_file(request.app.state.settings.assets_dir, variant["overlaid_image_url"])
    if path is None:
        raise HTTPException(status_code=409, detail="this variant has no overlaid image yet")
    data = await asyncio.to_thread(path.read_bytes)
    return Response(data, media_type=image_type(path),
                    headers={"Content-Disposition": disposition(image_name(store, job_id, variant, path))})


def _post_text(detail: dict) -> tuple[str, str]:
    feed = detail["instagram_feed"] or {}
    caption = feed.get("instagram_ad_copy") or ""
    hashtags = feed.get("hashtags") or ""
    return f"{caption}\n\n{hashtags}\n" if hashtags else f"{caption}\n", " ".join(hashtags.split()) + "\n"


def build_bundle(detail: dict, store: str, assets_dir: Path) -> tuple[bytes, list[str]]:
    """A zip: the selected image, the other variants' images, post.txt (caption + hashtags), hashtags.txt, copy_ko.txt."""
    buffer, names = io.BytesIO(), []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for variant in sorted(detail["variants"], key=lambda v: (not v["selected"], v["creation_order"])):
            path = _asset_file(assets_dir, variant["overlaid_image_url"])
            if path is not None:
                name = image_name(store, detail["job_id"], variant, path)
                archive.write(path, name, compress_type=zipfile.ZIP_STORED)  # already compressed
                names.append(name)
        post, tags = _post_text(detail)
        for name, text in (("post.txt", post), ("hashtags.txt", tags), ("copy_ko.txt", (detail["ad_copy_kor"] or "") + "\n")):
            archive.writestr(name, text.encode("utf-8"))
            names.append(name)
    return buffer.getvalue(), names


@router.get("/{job_id}/bundle", responses={404: {"description": "Unknown job"}})
async def download_bundle(request: Request, job_id: UUID, pool: PoolDep):
    """One zip per job: the selected image first, the other variants, the post and its hashtags as text files."""
    detail, store = await _job(pool, job_id)
    data, _ = await asyncio.to_thread(build_bundle, detail, store, request.app.state.settings.assets_dir)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": disposition(f"{store}_{str(job_id)[:8]}_bundle.zip")})
