"""One log line per event on stdout (`docker logs ... | grep` reads it), with the row's ids; plain or JSON."""
import json
import logging
import sys

_IDS = ("stage", "job_id", "job_variants_id", "run_token")


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        ids = {k: getattr(record, k) for k in _IDS if getattr(record, k, None)}
        if self.as_json:
            line = {"ts": self.formatTime(record), "level": record.levelname, "logger": record.name,
                    "msg": record.getMessage(), **ids}
            if record.exc_info:
                line["exc"] = self.formatException(record.exc_info)
            return json.dumps(line, ensure_ascii=False)
        text = super().format(record)
        return text + "".join(f" {k}={v}" for k, v in ids.items())


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at emit time (a handler bound to an old, closed stream loses lines).
    stdout, not stderr: seed 001's checks are `docker logs feedlyai-work-yh | grep ...`, and the pipe
    carries only the container's stdout."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value):
        pass


def setup_logging(level: str = "INFO", as_json: bool = False) -> None:
    """Configure the root logger once."""
    handler = _StdoutHandler()
    handler.setFormatter(_Formatter(as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)
