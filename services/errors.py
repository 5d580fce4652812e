"""Errors that decide how a failed stage is treated."""
from datetime import timedelta
from pathlib import Path


def relative_paths(message: str, assets_dir: Path) -> str:
    """The message with ASSETS_DIR's absolute prefix cut: stored errors name files relative to it."""
    for root in {str(Path(assets_dir).resolve()), str(Path(assets_dir).absolute())}:
        message = message.replace(root + "/", "").replace(root, ".")
    return message


class InputError(Exception):
    """Bad input that no retry can fix (missing image, unreadable file, no ad copy)."""


class ClaimLost(Exception):
    """The row was not in the state this stage needs, or its lease was taken away."""


class RunRevoked(ClaimLost):
    """The run no longer holds its row (cancelled, rewound, taken over): its work is stopped, nothing is written."""


class NotFound(Exception):
    """The job, variant or another id named in the request does not exist (or not for this tenant)."""


def claim_refusal(stage: str, after: str, state, now, text_ready: bool = True, settle_seconds: float = 0.0) -> str:
    """Why a claim found nothing to do, for the 409: the gate that holds the row, or the state it is in."""
    where = f"the row is at ({state['current_step']}, {state['status']})"
    if state["current_step"] == after and state["status"] == "done" and not text_ready:
        return (f"{stage} is waiting for the text part's ad_copy_eng (txt_ad_copy_generations with "
                f"generation_stage 'ad_copy_eng', status 'done'); {where}")
    if state["current_step"] == after == "img_gen" and state["status"] == "done" and state.get("untouched"):
        claimable = state["created_at"] + timedelta(seconds=settle_seconds)
        if claimable > now:
            return (f"{stage}: the row is settling: it was inserted already at (img_gen, done) "
                    f"{(now - state['created_at']).total_seconds():.1f} s ago, and such a row is claimed "
                    f"start_settle_seconds ({settle_seconds:g} s) after its insert, at {claimable.isoformat()} "
                    f"(in {(claimable - now).total_seconds():.1f} s), so that seed 000's running -> done flip "
                    f"right after the insert is one start; {where}")
    reason = f"{stage} needs ({after}, done) or a due retry of ({stage}, failed); {where}"
    if state["status"] == "running":
        return f"{reason}: another run holds it"
    if state["status"] == "failed" and state["current_step"] == stage:
        due = state["next_retry_at"]
        if due is None:
            return f"{reason}: failed for good, no retry left (POST /api/yh/jobs/{state['job_id']}/retry re-queues it)"
        return f"{reason}: its retry is due in {max(0.0, (due - now).total_seconds()):.1f} s"
    return reason


class LlmOutputError(ValueError):
    """The model answered, but not with the JSON object (or content) we asked for."""


class LlmUnavailableError(RuntimeError):
    """The endpoint could not give an answer (timeouts, 429/5xx after retries, 4xx config errors)."""

    def __init__(self, message: str, *, retryable: bool, status_code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable  # True: a later stage retry may succeed (overload, network)
        self.status_code = status_code
