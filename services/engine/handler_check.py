"""The start-up check that the stage table (pipeline.py) and the handlers (built from its rows) match."""
import inspect
from collections.abc import Iterable, Mapping

from services.engine.pipeline import STAGES, Stage
from services.engine.stage_types import REQUIRED_HOOKS, StageHandler, overrides

# Every hook of StageHandler with the arguments the engine passes (after self), and whether it awaits it:
# a hook with another shape would fail at the stage's first request (or never run) instead of at start.
HOOK_SHAPES = {"load": (2, True), "run": (1, False), "save": (3, True), "check_request": (2, True),
               "warm_up": (0, False), "health": (0, False)}
FLAGS = {"io_bound": bool, "reports_health": bool}


class HandlerMismatch(Exception):
    """The stage table and the handlers disagree; the message names every difference."""


def _hook_problem(handler: StageHandler, hook: str) -> str | None:
    """Why `handler.hook` does not have the shape the engine calls it with, or None."""
    args, awaited = HOOK_SHAPES[hook]
    value = getattr(handler, hook)  # the hook itself (every StageHandler has it), to inspect its shape
    if not callable(value):
        return f"{hook} is not callable"
    if inspect.iscoroutinefunction(value) != awaited:
        return f"{hook} must be an async def (the runner awaits it)" if awaited else \
            f"{hook} must be a plain def (it runs in a thread or a worker process)"
    try:
        inspect.signature(value).bind(*range(args))
    except TypeError:
        names = {"load": "conn, ctx", "run": "inputs", "save": "conn, ctx, output", "check_request": "conn, request"}
        return f"{hook} must take ({names.get(hook, '')})"
    return None


def problems(handlers: Mapping[str, object], stages: Iterable[Stage] = STAGES) -> list[str]:
    """Every difference between `stages` and `handlers` (name -> handler), one sentence each."""
    names = [s.name for s in stages]
    found = [f"stage {n} (services/engine/pipeline.py) has no handler" for n in names if n not in handlers]
    found += [f"handler {n} is not a stage of services/engine/pipeline.py" for n in handlers if n not in names]
    for name, handler in handlers.items():
        kind = type(handler).__name__
        if not isinstance(handler, StageHandler):
            found.append(f"handler {name} ({kind}) is not a StageHandler (services/engine/stage_types.py)")
            continue
        missing = [hook for hook in REQUIRED_HOOKS if not overrides(handler, hook)]
        if missing:
            found.append(f"handler {name} ({kind}) lacks {', '.join(missing)}")
        found += [f"handler {name} ({kind}): {why}" for hook in HOOK_SHAPES if (why := _hook_problem(handler, hook))]
        group = handler.process_group
        if group is not None and not isinstance(group, str):
            found.append(f"handler {name} ({kind}): process_group must be a group name or None, not {group!r}")
        found += [f"handler {name} ({kind}): {flag} must be True or False"
                  for flag, flag_type in FLAGS.items() if not isinstance(getattr(handler, flag), flag_type)]
    return found


def check_handlers(handlers: Mapping[str, object], stages: Iterable[Stage] = STAGES) -> None:
    """Raise HandlerMismatch naming every difference; the app calls this before it serves a stage."""
    if found := problems(handlers, stages):
        raise HandlerMismatch("the stage table and the handlers do not match: " + "; ".join(found))
