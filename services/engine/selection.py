"""Choosing the job's best variant from its evaluations (the rule is written down in README)."""
from uuid import UUID

import asyncpg

from services.engine import store

EVALUATION_TYPES = ("llava_judge", "ocr", "readability", "iou")


def metric_value(metrics: dict, key: str, default: float = 0.0) -> float:
    """A metric's number whether stored bare or as {"value": ...}."""
    item = metrics.get(key, default)
    if isinstance(item, dict):
        item = item.get("value", default)
    try:
        return float(item)
    except (TypeError, ValueError):
        return default


def rank_key(evals: dict[str, dict], creation_order: int) -> tuple:
    """Sort key, best first: most evaluations passed, then judge overall, OCR similarity, order."""
    passed = sum(1 for t in EVALUATION_TYPES if evals.get(t, {}).get("passed") is True)
    judge = metric_value(evals.get("llava_judge", {}), "overall")
    similarity = metric_value(evals.get("ocr", {}), "similarity")
    return (-passed, -judge, -similarity, creation_order)


async def select_best_variant(conn: asyncpg.Connection, job_id: UUID) -> UUID | None:
    """Mark exactly one finished variant of the job `selected`; return its id."""
    rows = await store.finished_variants_evaluations(conn, job_id=job_id)
    variants: dict[UUID, tuple[int, dict]] = {}
    for row in rows:
        order, evals = variants.setdefault(row.job_variants_id, (row.creation_order, {}))
        if row.evaluation_type:
            evals[row.evaluation_type] = row.metrics
    if not variants:
        return None
    best = min(variants, key=lambda vid: rank_key(variants[vid][1], variants[vid][0]))
    await store.mark_selected_variant(conn, job_id=job_id, variant_id=best)
    return best
