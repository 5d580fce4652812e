"""Every step name written in SQL (db/*.sql, db/migrations/*.sql) is a step of the stage table or an upstream step."""
import re

from config import ROOT
from services.engine.pipeline import STAGES, UPSTREAM_STEPS

KNOWN = {s.name for s in STAGES} | {s.after for s in STAGES} | set(UPSTREAM_STEPS)
_LIT = r"'([A-Za-z][A-Za-z0-9_]*)'"
_STEP = r"(?:\b\w+\.)?\b\w*step\b"  # current_step, step, v.current_step, NEW.current_step
# The places a step name is written: compared with a step column, in an IN list, as the value of a CASE that
# sets the step, as the value after a 'current_step' key (json_build_object), and in the step column of an INSERT.
_COMPARE = re.compile(rf"{_STEP}\s*(?:=|<>|!=|IS\s+(?:NOT\s+)?DISTINCT\s+FROM)\s*{_LIT}", re.I)
_IN_LIST = re.compile(rf"{_STEP}\s+(?:NOT\s+)?IN\s*\(([^)]*)\)", re.I)
_CASE = re.compile(rf"{_STEP}\s*=\s*CASE\b(.*?)\bEND\b", re.I | re.S)
_CASE_VALUE = re.compile(rf"\b(?:THEN|ELSE)\s+{_LIT}", re.I)
_JSON = re.compile(rf"'\w*step'\s*,\s*{_LIT}")
_INSERT = re.compile(r"INSERT\s+INTO\s+\w+\s*\(([^)]*)\)\s*(?:VALUES\s*\((.*?)\)\s*(?:RETURNING|;|$)|SELECT\s(.*?)\bFROM\b)",
                     re.I | re.S)


def _split(values: str) -> list[str]:
    """Top-level comma split (parentheses respected)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(values):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(values[start:i].strip())
            start = i + 1
    return parts + [values[start:].strip()]


def step_literals(sql: str) -> set[str]:
    """The string literals `sql` uses as step names."""
    sql = re.sub(r"--[^\n]*", "", sql)
    found = set(_COMPARE.findall(sql)) | set(_JSON.findall(sql))
    for group in _IN_LIST.findall(sql):
        found |= set(re.findall(_LIT, group))
    for body in _CASE.findall(sql):
        found |= set(_CASE_VALUE.findall(body))
    for columns, values, selected in _INSERT.findall(sql):
        names = [c.strip().lower() for c in columns.split(",")]
        for name, value in zip(names, _split(values or selected)):
            if name.endswith("step") and (m := re.fullmatch(_LIT, value)):
                found.add(m[1])
    return found


def _sql_files():
    return sorted((ROOT / "db").glob("*.sql")) + sorted((ROOT / "db" / "migrations").glob("*.sql"))


def test_every_step_name_in_sql_is_a_known_step():
    unknown = {f"{path.relative_to(ROOT)}: {name}" for path in _sql_files() for name in step_literals(path.read_text())
               if name not in KNOWN}
    assert not unknown, f"step names in SQL that are not in services/engine/pipeline.py: {sorted(unknown)}"


def test_the_scan_finds_the_steps_the_sql_writes():
    # The files do name these: a scan that finds nothing would pass the test above for any misspelling.
    seen = set().union(*(step_literals(p.read_text()) for p in _sql_files()))
    assert {"iou_eval", "img_gen", "vlm_analyze", "vlm_judge", "ocr_eval", "instagram_feed_gen", "ad_copy_gen_kor",
            "user_img_input"} <= seen


def test_a_misspelled_step_in_each_place_a_step_is_written_is_caught():
    cases = {
        "SELECT 1 FROM jobs_variants v WHERE v.current_step = 'iou_evl'": "iou_evl",
        "UPDATE jobs SET current_step = 'vlm_analyse' WHERE job_id = $1": "vlm_analyse",
        "SELECT 1 WHERE current_step IS DISTINCT FROM 'img_gn'": "img_gn",
        "SELECT 1 WHERE j.current_step NOT IN ('iou_eval', 'ad_copy_gen_kr')": "ad_copy_gen_kr",
        "UPDATE jobs SET current_step = CASE WHEN current_step = 'iou_eval' THEN 'vlm_analyz' ELSE current_step END":
            "vlm_analyz",
        "SELECT json_build_object('current_step', 'img_gem')": "img_gem",
        "INSERT INTO jobs (tenant_id, status, current_step) VALUES (:t, 'done', 'user_img_inpt') RETURNING job_id":
            "user_img_inpt",
        "INSERT INTO jobs (tenant_id, status, current_step) SELECT 'h', 'done', 'instagram_feed' FROM generate_series(1, 2)":
            "instagram_feed",
        "CREATE INDEX i ON jobs (updated_at) WHERE status = 'done' AND current_step <> 'iou_evals'": "iou_evals",
    }
    for sql, name in cases.items():
        assert name in step_literals(sql) and name not in KNOWN, sql
    # Other literals next to a step are not taken for one.
    assert step_literals("SELECT json_build_object('job_id', j.job_id, 'current_step', 'img_gen')") == {"img_gen"}
