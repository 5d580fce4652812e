"""The dashboard: the jobs list and a review page per job, server-rendered (no JS, no build step, nothing from a CDN)."""
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse

from models import QueryText
from routers.deps import PoolDep
from routers.ui import principal, render
from services.engine import jobs_view
from services.engine.pipeline import FINAL_STAGE, STAGES
from services.engine.replicas import unserved_stages
from services.engine.sweeper import waiting_report
from services.imaging.fonts import default_font_path
from services.imaging.metric_shape import described
from services.ops import store as ops_store

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)

VARIANT_STEPS = [s.name for s in STAGES if s.level == "variant"]
JOB_STEPS = [s.name for s in STAGES if s.level == "job"]
RERUN_STEPS = VARIANT_STEPS + JOB_STEPS
EVAL_ORDER = ("llava_judge", "ocr", "readability", "iou")
EVAL_TITLES = {"llava_judge": "VLM judge", "ocr": "OCR", "readability": "Readability", "iou": "IoU / occlusion"}
# The numbers that matter most per evaluation, shown first and in bold.
KEY_METRICS = {"llava_judge": ("overall",), "ocr": ("cer", "similarity"), "readability": ("contrast_ratio", "apca_lc"),
               "iou": ("max_ioa", "occ")}
NOTES = {"llava_judge": ("reason",), "ocr": ("reason", "recognised_text", "expected_text")}
COMPARATORS = {"higher_is_better": "≥", "lower_is_better": "≤", "higher_abs_is_better": "|x| ≥"}
OUTCOMES = ("done", "in_progress", "failed", "cancelled")  # job_outcome() (migration 0010), else in progress
PAGE_SIZE = 50


def is_live(step: str | None, status: str | None) -> bool:
    """True while a job may still change on its own (not finished, not finally failed)."""
    return not (step == FINAL_STAGE and status == "done") and status != "failed"  # a cancelled row is failed too


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


def _judge(evals: dict) -> tuple[float | None, str | None]:
    """The judge's overall score and the first line of its reason."""
    judge = evals.get("llava_judge") or {}
    overall = judge.get("overall")
    score = overall.get("value") if isinstance(overall, dict) else overall
    reason = judge.get("reason")
    return score, (reason.strip().splitlines()[0][:200] if isinstance(reason, str) and reason.strip() else None)


def variant_view(variant: dict, dead: bool) -> dict:
    """A variant with its stage table, ordered evaluations, judge summary and whether it is finished."""
    evals = variant["evaluations"]
    kinds = [k for k in EVAL_ORDER if k in evals] + sorted(k for k in evals if k not in EVAL_ORDER)
    score, why = _judge(evals)
    return {**variant, "steps": steps_table(variant["timeline"], VARIANT_STEPS),
            "evals": [evaluation(k, evals[k]) for k in kinds], "score": score, "why": why,
            "dead": dead, "finished": dead or (variant["current_step"] == VARIANT_STEPS[-1] and variant["status"] == "done")}


def _failed_for_good(row: dict) -> bool:
    """Failed with no retry scheduled."""
    return row["status"] == "failed" and row["next_retry_at"] is None


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _cursor(value: str | None) -> tuple[datetime | None, UUID | None]:
    """`<created_at ISO>_<job_id>` of the previous page's last row; anything else starts at the newest."""
    if not value:
        return None, None
    try:
        stamp, job_id = value.rsplit("_", 1)
        return datetime.fromisoformat(stamp), UUID(job_id)
    except ValueError:
        raise HTTPException(status_code=422, detail="malformed page cursor") from None


@router.get("/font.otf")
async def hangul_font():
    """The pipeline's own Noto Sans KR, so Hangul renders offline on machines without CJK fonts."""
    try:
        path = default_font_path()
    except ImportError:
        raise HTTPException(status_code=404, detail="font package not installed") from None
    return FileResponse(path, media_type="font/otf", headers={"Cache-Control": "public, max-age=86400"})


@router.get("")
async def dashboard(request: Request, pool: PoolDep, tenant_id: QueryText = None, status: QueryText = None,
                    outcome: QueryText = None, q: QueryText = None, after: QueryText = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE):
    """Jobs newest first, a keyset page at a time: store, thumbnail, outcome; search and filters."""
    who = principal(request)
    tenant = who.tenant or tenant_id  # a tenant key sees its own tenant whatever the query says
    search = q.strip() if q and q.strip() else None
    stamp, last_id = _cursor(after)
    async with pool.acquire() as conn:
        rows = await ops_store.jobs_page(conn, tenant_id=tenant, status=status, outcome=outcome, search=search,
                                         search_like=_like_escaped(search) if search else None, after_created=stamp,
                                         after_job=last_id, limit=limit + 1)
    jobs = [{**dict(r), "progress": jobs_view.job_progress(r["current_step"], r["status"], r["states"])}
            for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = f"{jobs[-1]['created_at'].isoformat()}_{jobs[-1]['job_id']}" if more and jobs else None
    live = any(is_live(j["current_step"], j["status"]) for j in jobs)
    async with pool.acquire() as conn:
        waiting = await waiting_report(conn, request.app.state.settings) if who.tenant is None else {}
        # SERVE_STAGES: stages no live replica serves (operators only, like the waiting counts).
        unserved = await unserved_stages(conn, request.app.state.settings.lease_seconds) if who.tenant is None else {}
    return render(request, "dashboard.html", {
        "jobs": jobs, "tenant_id": tenant, "status": status, "outcome": outcome, "q": search or "", "live": live,
        "waiting": waiting, "unserved": unserved, "statuses": ("running", "done", "failed"), "outcomes": OUTCOMES,
        "next_cursor": next_cursor, "paged": bool(after), "limit": limit})


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: UUID, pool: PoolDep):
    """The review page: candidates side by side, the Korean copy, the post as it will appear, actions, downloads."""
    detail = await jobs_view.job_detail(pool, job_id, request.app.state.settings.lease_seconds)
    if detail is None:
        return render(request, "not_found.html", {"job_id": job_id}, status_code=404)
    job_dead = _failed_for_good(detail)  # a cancelled job is failed for good too (its reason in cancel_reason)
    live = not job_dead and not (detail["current_step"] == FINAL_STAGE and detail["status"] == "done")
    variants = [variant_view(v, _failed_for_good(v)) for v in detail["variants"]]
    selected = next((v for v in variants if v["selected"]), None)
    hashtags = ((detail["instagram_feed"] or {}).get("hashtags") or "").split()
    store = await ops_store.job_store_name(pool, job_id=job_id)
    return render(request, "job.html", {
        "job": detail, "job_dead": job_dead, "variants": variants, "selected": selected, "live": live,
        "hashtags": hashtags, "store_name": store, "rerun_steps": RERUN_STEPS, "variant_steps": VARIANT_STEPS,
        "actions": detail.get("actions", []),
        "job_steps": steps_table(detail["timeline"], JOB_STEPS), "comparators": COMPARATORS, "eval_titles": EVAL_TITLES,
        "finished_count": sum(v["finished"] for v in variants)})
