"""Log lines carry the job and variant ids; JSON output parses."""
import json
import logging

from services.ops.logs import _Formatter


def _record(**extra) -> logging.LogRecord:
    record = logging.LogRecord("services.engine.runner", logging.WARNING, __file__, 1, "stage failed: %s", ("boom",), None)
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_ids():
    line = _Formatter(as_json=True).format(_record(stage="planner", job_id="j1", job_variants_id="v1"))
    data = json.loads(line)
    assert data["msg"] == "stage failed: boom" and data["level"] == "WARNING"
    assert (data["stage"], data["job_id"], data["job_variants_id"]) == ("planner", "j1", "v1")


def test_plain_lines_carry_ids_and_skip_missing_ones():
    line = _Formatter(as_json=False).format(_record(stage="ocr_eval", job_id="j2"))
    assert line.endswith("stage failed: boom stage=ocr_eval job_id=j2")
    assert "job_variants_id" not in line


def test_json_lines_carry_the_run_token():
    data = json.loads(_Formatter(as_json=True).format(_record(stage="overlay", job_id="j", run_token="t-1")))
    assert data["run_token"] == "t-1"


def test_log_format_json_and_the_older_log_json_switch():
    import pytest

    from config import Settings

    assert Settings(_env_file=None, log_format="json").log_as_json is True
    assert Settings(_env_file=None, log_json=True).log_as_json is True  # LOG_JSON=true still works
    assert Settings(_env_file=None, log_format="plain", log_json=True).log_as_json is False  # LOG_FORMAT wins
    assert Settings(_env_file=None).log_as_json is False
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        _ = Settings(_env_file=None, log_format="xml").log_as_json
