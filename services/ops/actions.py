"""Operator actions: cancel, re-run from a step, select a variant, retry. One implementation for the API and the CLI.

Every action is a state change in the database under the job's row lock, so it works the same from any
replica, the CLI or the dashboard, and two replicas doing the same action at once do it once (the second
sees the first's result). Each action that changed something is recorded in operator_actions."""
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from services.engine import store as engine_store
from services.engine.jobstate import advance_job_if_finished
from services.engine.pipeline import BY_NAME, LAST_VARIANT_STAGE, STAGES, VARIANT_STEPS
from services.ops import store_actions as store

_VARIANT_STAGES = [s.name for s in STAGES if s.level == "variant"]
_JOB_STAGES = [s.name for s in STAGES if s.level == "job"]
_JOB_STEPS_ORDER = [LAST_VARIANT_STAGE] + _JOB_STAGES  # the job's own steps once its variants finished
RERUN_STEPS = tuple(s.name for s in STAGES)


class ActionError(Exception):
    """An action refused: 404 (unknown id), 409 (the state does not allow it, with the reason) or 422."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class Actor:
    """Who asked: a name (X-Actor header, CLI user) and through which door (api, cli)."""

    name: str
    via: str


async def _record(conn, job_id: UUID, variant_id: UUID | None, action: str, params: dict, actor: Actor,
                  result: dict) -> dict:
    # The pool's JSONB codec (database.init_connection) encodes the dicts.
    action_id, created_at = await store.record_action(conn, job_id=job_id, variant_id=variant_id, action=action,
                                                      params=params, actor=actor.name, via=actor.via, result=result)
    return {"action_id": action_id, "recorded_at": created_at}


async def _lock(conn, job_id: UUID) -> asyncpg.Record:
    job = await store.lock_job(conn, job_id=job_id)
    if job is None:
        raise ActionError(404, f"job {job_id} not found")
    return job


async def _variant(conn, job_id: UUID, variant_id: UUID) -> asyncpg.Record:
    for row in await store.variants(conn, job_id=job_id):
        if row["job_variants_id"] == variant_id:
            return row
    raise ActionError(404, f"variant {variant_id} of job {job_id} not found")


def _variant_finished(v) -> bool:
    return (v["current_step"], v["status"]) == (LAST_VARIANT_STAGE, "done") or \
        (v["status"] == "failed" and v["next_retry_at"] is None)


async def cancel(conn: asyncpg.Connection, job_id: UUID, actor: Actor, variant_id: UUID | None = None,
                 reason: str | None = None) -> dict:
    """Cancel the job (or one variant): final, never claimed again; returns the revoked run tokens."""
    reason = reason or f"cancelled by {actor.name}"
    async with conn.transaction():
        job = await _lock(conn, job_id)
        target = await _variant(conn, job_id, variant_id) if variant_id else None
        if job["cancelled_at"] is not None or (target is not None and target["cancelled_at"] is not None):
            return {"job_id": job_id, "job_variants_id": variant_id, "cancelled": False, "already_cancelled": True,
                    "revoked_runs": []}
        if target is None and job["outcome"] is not None:
            raise ActionError(409, f"job {job_id} already finished ({job['outcome']}) at "
                                   f"({job['current_step']}, {job['status']}); nothing to cancel")
        if target is not None and _variant_finished(target):
            raise ActionError(409, f"variant {variant_id} already finished at ({target['current_step']}, "
                                   f"{target['status']}); nothing to cancel")
        rows = await store.cancel_variants(conn, job_id=job_id, variant_id=variant_id, reason=reason)
        tokens = [r.run_token for r in rows if r.stopped]
        if target is None:
            tokens += [r.run_token for r in await store.cancel_job(conn, job_id=job_id, reason=reason) if r.stopped]
        else:  # the other variants may all be finished now: the job advances (or fails) as usual
            await advance_job_if_finished(conn, job_id)
        result = {"variants_cancelled": len(rows), "runs_stopped": len(tokens)}
        record = await _record(conn, job_id, variant_id, "cancel", {"reason": reason}, actor, result)
    return {"job_id": job_id, "job_variants_id": variant_id, "cancelled": True, "already_cancelled": False,
            "revoked_runs": tokens, **result, **record}


def _refuse_running_or_cancelled(job) -> None:
    if job["cancelled_at"] is not None:
        raise ActionError(409, f"job {job['job_id']} was cancelled; a cancelled job never runs again")
    if job["status"] == "running" and job["current_step"] in _JOB_STAGES:
        raise ActionError(409, f"job {job['job_id']} is running {job['current_step']}; try again when it finished")


async def rerun(conn: asyncpg.Connection, job_id: UUID, from_step: str, actor: Actor,
                variant_id: UUID | None = None) -> dict:
    """Re-run from `from_step` (one variant, every variant, or a job step), keeping the earlier results."""
    stage = BY_NAME.get(from_step)
    if stage is None:
        raise ActionError(422, f"unknown step {from_step!r}; one of: {', '.join(RERUN_STEPS)}")
    if stage.level == "job" and variant_id is not None:
        raise ActionError(422, f"{from_step} is a job step: re-run it without job_variants_id")
    async with conn.transaction():
        job = await _lock(conn, job_id)
        _refuse_running_or_cancelled(job)
        if stage.level == "job":
            return await _rerun_job(conn, job, stage.name, stage.after, actor)
        variants = [await _variant(conn, job_id, variant_id)] if variant_id else await store.variants(
            conn, job_id=job_id)
        if not variants:
            raise ActionError(409, f"job {job_id} has no variants")
        before = VARIANT_STEPS.index(stage.after)
        for v in variants:
            where = f"variant {v['job_variants_id']} is at ({v['current_step']}, {v['status']})"
            if v["cancelled_at"] is not None:
                raise ActionError(409, f"{where}: it was cancelled")
            if v["status"] == "running":
                raise ActionError(409, f"{where}: a stage is running; try again when it finished")
            step = v["current_step"] if v["current_step"] in VARIANT_STEPS else None
            if step is None or VARIANT_STEPS.index(step) < before or \
                    (VARIANT_STEPS.index(step) == before and v["status"] != "done"):
                raise ActionError(409, f"{where}: it has not finished {stage.after}, so {from_step} cannot re-run")
            if VARIANT_STEPS.index(step) == before:
                raise ActionError(409, f"{where}: {from_step} is about to run already")
        ids = [v["job_variants_id"] for v in variants]
        await store.rewind_variants(conn, variant_ids=ids, to_step=stage.after)
        await store.reopen_job(conn, job_id=job_id)  # selection and the job stages run again afterwards
        result = {"variants_rewound": len(ids), "to": [stage.after, "done"]}
        record = await _record(conn, job_id, variant_id, "rerun", {"from_step": from_step}, actor, result)
    return {"job_id": job_id, "job_variants_id": variant_id, "from_step": from_step, "variants": ids,
            "job_rewound": False, **result, **record}


async def _rerun_job(conn, job, step: str, after: str, actor: Actor) -> dict:
    """A job step again (the variants and their selection stay): back to (after, done)."""
    where = f"job {job['job_id']} is at ({job['current_step']}, {job['status']})"
    current = job["current_step"]
    if current not in _JOB_STEPS_ORDER or (current == LAST_VARIANT_STAGE and job["status"] != "done"):
        raise ActionError(409, f"{where}: its variants have not all finished, so {step} cannot re-run")
    if _JOB_STEPS_ORDER.index(current) < _JOB_STEPS_ORDER.index(after) or \
            (current == after and job["status"] != "done"):
        raise ActionError(409, f"{where}: it has not finished {after}, so {step} cannot re-run")
    if current == after:
        raise ActionError(409, f"{where}: {step} is about to run already")
    await store.rewind_job(conn, job_id=job["job_id"], to_step=after)
    result = {"variants_rewound": 0, "to": [after, "done"]}
    record = await _record(conn, job["job_id"], None, "rerun", {"from_step": step}, actor, result)
    return {"job_id": job["job_id"], "job_variants_id": None, "from_step": step, "variants": [],
            "job_rewound": True, **result, **record}


async def select(conn: asyncpg.Connection, job_id: UUID, variant_id: UUID, actor: Actor) -> dict:
    """Make `variant_id` the selected variant; a post already written is written again for it."""
    async with conn.transaction():
        job = await _lock(conn, job_id)
        target = await _variant(conn, job_id, variant_id)
        _refuse_running_or_cancelled(job)
        if job["current_step"] not in _JOB_STEPS_ORDER or job["status"] == "running" or \
                (job["current_step"] == LAST_VARIANT_STAGE and job["status"] != "done"):
            raise ActionError(409, f"job {job_id} is at ({job['current_step']}, {job['status']}): a variant is "
                                   "selected once every variant finished")
        if (target["current_step"], target["status"]) != (LAST_VARIANT_STAGE, "done"):
            raise ActionError(409, f"variant {variant_id} is at ({target['current_step']}, {target['status']}): "
                                   "only a finished variant can be selected")
        if target["selected"]:
            raise ActionError(409, f"variant {variant_id} is already the selected variant")
        await engine_store.mark_selected_variant(conn, job_id=job_id, variant_id=variant_id)
        # The post exists (or failed): write it again for the new variant; else it is written for it anyway.
        repost = job["current_step"] == "instagram_feed_gen"
        if repost:
            await store.rewind_job(conn, job_id=job_id, to_step="ad_copy_gen_kor")
        result = {"post_rewritten": repost}
        record = await _record(conn, job_id, variant_id, "select", {}, actor, result)
    return {"job_id": job_id, "job_variants_id": variant_id, "selected": True, **result, **record}


async def retry(conn: asyncpg.Connection, job_id: UUID, actor: Actor, action: str = "retry",
                params: dict | None = None) -> dict:
    """Re-run what failed (even failures that were final) from its failed step; the sweeper picks it up."""
    async with conn.transaction():
        job = await _lock(conn, job_id)
        if job["cancelled_at"] is not None:
            raise ActionError(409, f"job {job_id} was cancelled; a cancelled job never runs again")
        variants = await store.requeue_variants(conn, job_id=job_id, stages=_VARIANT_STAGES)
        requeued = await store.requeue_job(conn, job_id=job_id, steps=_JOB_STAGES + [LAST_VARIANT_STAGE],
                                           variants_requeued=bool(variants))
        result = {"variants_requeued": len(variants), "job_requeued": requeued is not None}
        if variants or requeued:
            await _record(conn, job_id, None, action, params or {}, actor, result)
    return {"job_id": job_id, **result}
