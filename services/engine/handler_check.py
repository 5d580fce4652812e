"""The start-up check that the stage table (pipeline.py) and the handlers (stages/registry.py) match."""
import inspect
from collections.abc import Iterable, Mapping

from services.engine.pipeline import STAGES, Stage

REQUIRED_HOOKS = ("load", "run", "save")  # what the runner calls for every stage (runner.execute)
# Optional hooks, read with getattr by the runner, the workers and /healthz: when a handler has one, it
# must have this shape, or the stage would fail at its first request instead of at start.
COROUTINE_HOOKS = ("load", "save", "check_request")
CALLABLE_HOOKS = ("run", "warm_up", "health")


class HandlerMismatch(Exception):
    """The stage table and the handlers disagree; the message names every difference."""


def problems(handlers: Mapping[str, object], stages: Iterable[Stage] = STAGES) -> list[str]:
    """Every difference between `stages` and `handlers` (name -> handler), one sentence each."""
    names = [s.name for s in stages]
    found = [f"stage {n} (services/engine/pipeline.py) has no handler (services/stages/registry.py)"
             for n in names if n not in handlers]
    found += [f"handler {n} is not a stage of services/engine/pipeline.py" for n in handlers if n not in names]
    for name, handler in handlers.items():
        kind = type(handler).__name__
        missing = [hook for hook in REQUIRED_HOOKS if not hasattr(handler, hook)]
        if missing:
            found.append(f"handler {name} ({kind}) lacks {', '.join(missing)}")
        for hook in CALLABLE_HOOKS:
            if hasattr(handler, hook) and not callable(getattr(handler, hook)):
                found.append(f"handler {name} ({kind}): {hook} is not callable")
        for hook in COROUTINE_HOOKS:
            if hasattr(handler, hook) and not inspect.iscoroutinefunction(getattr(handler, hook)):
                found.append(f"handler {name} ({kind}): {hook} must be an async def (the runner awaits it)")
        group = getattr(handler, "process_group", None)
        if group is not None and not isinstance(group, str):
            found.append(f"handler {name} ({kind}): process_group must be a group name or None, not {group!r}")
        if not isinstance(getattr(handler, "io_bound", False), bool):
            found.append(f"handler {name} ({kind}): io_bound must be True or False")
    return found


def check_handlers(handlers: Mapping[str, object], stages: Iterable[Stage] = STAGES) -> None:
    """Raise HandlerMismatch naming every difference; the app calls this before it serves a stage."""
    if found := problems(handlers, stages):
        raise HandlerMismatch("the stage table and the handlers do not match: " + "; ".join(found))
