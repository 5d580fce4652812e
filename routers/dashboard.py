"""The dashboard: read-only, server-rendered pages over the jobs read model (no JS, no build step)."""
from datetime import datetime
from pathlib import Path
from uuid import UUID

import jinja2
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse
from fastapi.templating import Jinja2Templates

from models import QueryText
from routers.deps import PoolDep
from services.engine import jobs_view
from services.engine.pipeline import FINAL_STAGE, STAGES
from services.engine.sweeper import waiting_report
from services.imaging.fonts import default_font_path
from services.imaging.metric_shape import described

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)
templates = Jinja2Templates(env=_env)

VARIANT_STEPS = [s.name for s in STAGES if s.level == "variant"]
JOB_STEPS = [s.name for s in STAGES if s.level == "job"]
EVAL_ORDER = ("llava_judge", "ocr", "readability", "iou")
EVAL_TITLES = {"llava_judge": "VLM judge", "ocr": "OCR", "readability": "Readability", "iou": "IoU / occlusion"}
# The numbers that matter most per evaluation, shown first and in bold.
KEY_METRICS = {"llava_judge": ("overall",), "ocr": ("cer", "similarity"), "readability": ("contrast_ratio", "apca_lc"),
               "iou": ("max_ioa", "occ")}
NOTES = {"llava_judge": ("reason",), "ocr": ("reason", "recognised_text", "expected_text")}
COMPARATORS = {"higher_is_better": "≥", "lower_is_better": "≤", "higher_abs_is_better": "|x| ≥"}


def fmt(value) -> str:
    """A metric value for humans: yes/no, integers as is, floats to four significant digits."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def duration(ms) -> str:
    """Milliseconds as '12 ms' or '1.4 s'."""
    if ms is None:
        return "—"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def timestamp(value) -> str:
    """A UTC timestamp without microseconds."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else "—"


_env.filters.update(fmt=fmt, duration=duration, ts=timestamp)
_env.globals.update(comparators=COMPARATORS, eval_titles=EVAL_TITLES)


def local_asset(url) -> str | None:
    """`/assets/...` of this service, or None: any other URL (http://, //host, data:) is shown as text, never fetched."""
    if isinstance(url, str) and url.startswith("/assets/") and not any(c in url for c in ("\\", "..", "//", "?", "#")) \
            and url.isprintable():
        return url
    return None


_env.filters.update(local_asset=local_asset)


def is_live(step: str | None, status: str | None) -> bool:
    """True while a job may still change on its own (not finished, not finally failed)."""
    return not (step == FINAL_STAGE and status == "done") and status != "failed"


def steps_table(runs: list[dict], steps: list[str]) -> list[dict]:
    """One row per stage in pipeline order: latest run's status and duration, attempts, last error."""
    rows = []
    for step in steps:
        mine = [r for r in runs if r["step"] == step]
        last = mine[-1] if mine else None
        rows.append({"step": step, "status": last["status"] if last else "pending", "attempts": len(mine),
                     "duration_ms": last["duration_ms"] if last else None,
                     "error": next((r["error"] for r in reversed(mine) if r["error"]), None)})
    return rows


def evaluation(kind: str, metrics: dict) -> dict:
    """Scalar self-describing metrics of one evaluation, key metrics first, plus its text notes."""
    keys = KEY_METRICS.get(kind, ())
    rows = [{"name": name, "key": name in keys, "m": m} for name, m in described(metrics).items()
            if not isinstance(m["value"], (list, dict))]
    rows.sort(key=lambda r: keys.index(r["name"]) if r["key"] else len(keys))
    notes = [(name, metrics[name]) for name in NOTES.get(kind, ()) if metrics.get(name)]
    return {"kind": kind, "passed": metrics.get("passed"), "rows": rows, "notes": notes}


def variant_view(variant: dict, dead: bool) -> dict:
    """A variant with its stage table, ordered evaluations and whether it is finished (done or out of retries)."""
    evals = variant["evaluations"]
    kinds = [k for k in EVAL_ORDER if k in evals] + sorted(k for k in evals if k not in EVAL_ORDER)
    return {**variant, "steps": steps_table(variant["timeline"], VARIANT_STEPS),
            "evals": [evaluation(k, evals[k]) for k in kinds],
            "dead": dead, "finished": dead or (variant["current_step"] == VARIANT_STEPS[-1] and variant["status"] == "done")}


def _failed_for_good(row: dict) -> bool:
    """Failed with no retry scheduled."""
    return row["status"] == "failed" and row["next_retry_at"] is None


@router.get("/font.otf")
async def hangul_font():
    """The pipeline's own Noto Sans KR, so Hangul renders offline on machines without CJK fonts."""
    try:
        path = default_font_path()
    except ImportError:
        raise HTTPException(status_code=404, detail="font package not installed") from None
    return FileResponse(path, media_type="font/otf", headers={"Cache-Control": "public, max-age=86400"})


@router.get("")
async def dashboard(request: Request, pool: PoolDep, tenant_id: QueryText = None,
                    status: QueryText = None):
    """Recent jobs with status, progress and variants finished; filter by tenant and status."""
    jobs = await jobs_view.list_jobs(pool, tenant_id, status, 100)
    live = any(is_live(j["current_step"], j["status"]) for j in jobs)
    async with pool.acquire() as conn:
        waiting = await waiting_report(conn, request.app.state.settings)
    return templates.TemplateResponse(request, "dashboard.html", {
        "jobs": jobs, "tenant_id": tenant_id, "status": status, "live": live, "waiting": waiting,
        "statuses": ("running", "done", "failed")})


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: UUID, pool: PoolDep):
    """One job: variants with stage tables, images, evaluations; the copies and the Instagram post."""
    detail = await jobs_view.job_detail(pool, job_id)
    if detail is None:
        return templates.TemplateResponse(request, "not_found.html", {"job_id": job_id}, status_code=404)
    job_dead = _failed_for_good(detail)
    live = not job_dead and not (detail["current_step"] == FINAL_STAGE and detail["status"] == "done")
    variants = [variant_view(v, _failed_for_good(v)) for v in detail["variants"]]
    selected = next((v for v in variants if v["selected"]), None)
    hashtags = ((detail["instagram_feed"] or {}).get("hashtags") or "").split()
    return templates.TemplateResponse(request, "job.html", {
        "job": detail, "job_dead": job_dead, "variants": variants, "selected": selected, "live": live, "hashtags": hashtags,
        "job_steps": steps_table(detail["timeline"], JOB_STEPS),
        "finished_count": sum(v["finished"] for v in variants)})
