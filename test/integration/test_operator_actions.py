"""Operator actions through the HTTP API: cancel a long stage, re-run from a step, select another variant,
and two replicas doing the same action at once (real PostgreSQL, real app processes and worker processes)."""
import threading
import time

import httpx
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, free_port, serve
from test.engine_app import counting_handlers
from test.integration.helpers import job_finished, wait_for
from test.integration.procs import AppProcess


def _rows(db, sql: str, **params) -> list:
    db.rollback()  # a fresh snapshot
    return db.execute(text(sql), params).mappings().all()


def _scalar(db, sql: str, **params):
    db.rollback()
    return db.execute(text(sql), params).scalar()


def _runs(db, job_id: str, step: str, status: str | None = None) -> int:
    return _scalar(db, "SELECT count(*) FROM stage_runs WHERE job_id = :j AND step = :s "
                       "AND (CAST(:st AS text) IS NULL OR status = :st)", j=job_id, s=step, st=status)


def test_cancel_stops_a_long_stage_in_its_worker_process_and_nothing_runs_again(db, db_url, tmp_path):
    # planner runs 60 s in a supervised worker process: the cancel must kill it, not wait for it.
    app = AppProcess(db_url, free_port(), tmp_path, test_process_stages="planner", test_slow_stage="planner",
                     test_slow_seconds=60, worker_processes=1).start()
    try:
        job_id, (variant,) = seedlib.start_job(db, tmp_path, variants_count=1)
        wait_for(lambda: _runs(db, job_id, "planner", "running"), 30, what="planner running")
        before = httpx.get(f"{app.base}/healthz", timeout=10).json()["workers"]["cpu"]
        started = time.monotonic()
        r = httpx.post(f"{app.base}/api/yh/jobs/{job_id}/cancel", json={"reason": "wrong product"},
                       headers={"X-Actor": "ops-alice"}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["cancelled"] is True and r.json()["runs_stopped"] == 1, r.json()

        def replaced():
            cpu = httpx.get(f"{app.base}/healthz", timeout=10).json()["workers"]["cpu"]
            return cpu if cpu["restarts"] == before["restarts"] + 1 and cpu["alive"] == 1 else None
        cpu = wait_for(replaced, 30, interval=0.1, what="the planner's worker killed and replaced")
        assert "revoked" in cpu["last_restart"], cpu
        assert set(cpu["pids"]).isdisjoint(before["pids"]), (cpu, before)  # the busy process is gone
        assert time.monotonic() - started < 15  # within seconds, not at the 60 s stage or its hard limit

        (run,) = _rows(db, "SELECT status, error FROM stage_runs WHERE job_id = :j AND step = 'planner'", j=job_id)
        assert run["status"] == "cancelled" and "wrong product" in run["error"], run
        state = _rows(db, "SELECT current_step, status, next_retry_at, cancelled_at, updated_at FROM jobs_variants "
                          "WHERE job_variants_id = :v", v=variant)[0]
        assert (state["current_step"], state["status"], state["next_retry_at"]) == ("planner", "failed", None)
        assert state["cancelled_at"] is not None
        # The upstream parts read the contract's status: failed, final.
        assert _rows(db, "SELECT status FROM jobs WHERE job_id = :j", j=job_id)[0]["status"] == "failed"
        detail = httpx.get(f"{app.base}/api/yh/jobs/{job_id}", timeout=10).json()
        assert detail["finished"] is True and detail["outcome"] == "cancelled", detail
        assert detail["cancel_reason"] == "wrong product"
        (action,) = detail["actions"]
        assert action["action"] == "cancel" and action["actor"].startswith("ops-alice") and action["via"] == "api"
        page = httpx.get(f"{app.base}/dashboard/jobs/{job_id}", timeout=10).text  # the timeline shows who did it
        assert 'data-testid="action"' in page and "ops-alice" in page and "wrong product" in page
        (signal,) = _rows(db, "SELECT outcome, payload FROM job_outbox WHERE job_id = :j", j=job_id)
        assert signal["outcome"] == "cancelled" and signal["payload"]["reason"] == "wrong product", signal
        listed = httpx.get(f"{app.base}/api/yh/jobs", params={"finished": "true", "outcome": "cancelled"}).json()
        assert [j["job_id"] for j in listed] == [job_id]
        assert httpx.get(f"{app.base}/api/yh/jobs", params={"finished": "false"}).json() == []

        # The sweeper (every 0.5 s) leaves it alone: no new run, no state change, over many rounds.
        time.sleep(4)
        assert _runs(db, job_id, "planner") == 1
        assert _scalar(db, "SELECT count(*) FROM stage_runs WHERE job_id = :j", j=job_id) == 3  # analyze, yolo, planner
        assert _rows(db, "SELECT updated_at FROM jobs_variants WHERE job_variants_id = :v",
                     v=variant)[0]["updated_at"] == state["updated_at"]
        # Idempotent; and nothing else may revive it.
        again = httpx.post(f"{app.base}/api/yh/jobs/{job_id}/cancel", json={}, timeout=30)
        assert again.status_code == 200 and again.json()["already_cancelled"] is True, again.text
        for path, body in (("retry", {}), ("rerun", {"from_step": "planner"})):
            refused = httpx.post(f"{app.base}/api/yh/jobs/{job_id}/{path}", json=body, timeout=30)
            assert refused.status_code == 409 and "cancelled" in refused.json()["detail"], refused.text
        assert len(httpx.get(f"{app.base}/api/yh/jobs/{job_id}", timeout=10).json()["actions"]) == 1
    finally:
        app.stop()


def test_rerun_from_planner_keeps_analysis_and_detection_and_select_rewrites_the_post(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path)
    base = f"http://127.0.0.1:{settings.port}"
    with serve(create_app(settings), settings.port):
        job_id, variants = seedlib.start_job(db, settings.assets_dir, variants_count=2)
        wait_for(lambda: job_finished(db, job_id), 120, interval=0.2, what="the job's first post")
        first = httpx.get(f"{base}/api/yh/jobs/{job_id}").json()
        old_overlays = {v["job_variants_id"]: v["overlay_id"] for v in first["variants"]}
        old_evals = {r["evaluation_id"] for r in _rows(db, "SELECT evaluation_id FROM evaluations WHERE job_id = :j",
                                                       j=job_id)}
        counts = {t: _scalar(db, f"SELECT count(*) FROM {t} WHERE job_id = :j", j=job_id)
                  for t in ("vlm_traces", "yolo_runs", "detections")}

        # Wrong ids and steps: 404 / 422, nothing changes.
        unknown = "00000000-0000-0000-0000-000000000000"
        assert httpx.post(f"{base}/api/yh/jobs/{unknown}/rerun", json={"from_step": "planner"}).status_code == 404
        assert httpx.post(f"{base}/api/yh/jobs/{job_id}/rerun", json={"from_step": "planer"}).status_code == 422
        assert httpx.post(f"{base}/api/yh/jobs/{job_id}/rerun",
                          json={"from_step": "planner", "job_variants_id": unknown}).status_code == 404
        assert httpx.post(f"{base}/api/yh/jobs/{job_id}/rerun",
                          json={"from_step": "instagram_feed_gen", "job_variants_id": variants[0]}).status_code == 422

        r = httpx.post(f"{base}/api/yh/jobs/{job_id}/rerun", json={"from_step": "planner"})
        assert r.status_code == 200, r.text
        assert sorted(r.json()["variants"]) == sorted(variants)
        # While the variants run again the job is no longer finished, and a job step cannot re-run.
        busy = httpx.post(f"{base}/api/yh/jobs/{job_id}/rerun", json={"from_step": "ad_copy_gen_kor"})
        assert busy.status_code == 409, busy.text
        wait_for(lambda: _runs(db, job_id, "instagram_feed_gen", "done") == 2 and job_finished(db, job_id), 120,
                 interval=0.2, what="the post written again after the re-run")

        for step in ("vlm_analyze", "yolo_detect"):  # kept, not recomputed
            assert _runs(db, job_id, step) == 2, step
        for step in ("planner", "overlay", "vlm_judge", "ocr_eval", "readability_eval", "iou_eval"):
            assert _runs(db, job_id, step, "done") == 4, step
        assert _scalar(db, "SELECT count(*) FROM vlm_traces WHERE job_id = :j AND operation_type = 'analyze'",
                       j=job_id) == 2
        assert _scalar(db, "SELECT count(*) FROM yolo_runs WHERE job_id = :j", j=job_id) == counts["yolo_runs"]
        assert _scalar(db, "SELECT count(*) FROM detections WHERE job_id = :j", j=job_id) == counts["detections"]
        second = httpx.get(f"{base}/api/yh/jobs/{job_id}").json()
        assert second["finished"] and second["outcome"] == "done"
        for v in second["variants"]:
            assert v["overlay_id"] != old_overlays[v["job_variants_id"]], v  # a new overlay
            assert set(v["evaluations"]) == {"llava_judge", "ocr", "readability", "iou"}
        current = {r["evaluation_id"] for r in _rows(db, "SELECT e.evaluation_id FROM evaluations e WHERE e.overlay_id "
                                                         "= ANY(CAST(:o AS uuid[]))",
                                                     o=[v["overlay_id"] for v in second["variants"]])}
        assert len(current) == 8 and current.isdisjoint(old_evals)  # the current overlays' own evaluations
        assert _scalar(db, "SELECT count(*) FROM instagram_feeds WHERE job_id = :j", j=job_id) == 1
        assert sum(v["selected"] for v in second["variants"]) == 1
        chosen = next(v for v in second["variants"] if v["selected"])
        assert second["instagram_feed"]["overlay_id"] == chosen["overlay_id"]

        # Select the other variant: the flag moves and the post is written again for it (the Korean copy stays).
        other = next(v for v in second["variants"] if not v["selected"])
        assert httpx.post(f"{base}/api/yh/jobs/{job_id}/select", json={"job_variants_id": unknown}).status_code == 404
        assert httpx.post(f"{base}/api/yh/jobs/{job_id}/select",
                          json={"job_variants_id": chosen["job_variants_id"]}).status_code == 409
        r = httpx.post(f"{base}/api/yh/jobs/{job_id}/select", json={"job_variants_id": other["job_variants_id"]})
        assert r.status_code == 200 and r.json()["post_rewritten"] is True, r.text
        wait_for(lambda: _runs(db, job_id, "instagram_feed_gen", "done") == 3 and job_finished(db, job_id), 60,
                 interval=0.2, what="the post written for the selected variant")
        third = httpx.get(f"{base}/api/yh/jobs/{job_id}").json()
        assert [v["job_variants_id"] for v in third["variants"] if v["selected"]] == [other["job_variants_id"]]
        assert third["instagram_feed"]["overlay_id"] == other["overlay_id"]
        assert _scalar(db, "SELECT count(*) FROM instagram_feeds WHERE job_id = :j", j=job_id) == 1
        assert _runs(db, job_id, "ad_copy_gen_kor") == 2  # the first post and the re-run's; not the select's
        assert [a["action"] for a in third["actions"]] == ["rerun", "select"]


def _at_once(apps, path: str, body: dict) -> list:
    """POST the same action to every replica at the same instant; the answers."""
    gate, answers = threading.Barrier(len(apps)), []

    def call(app):
        gate.wait()
        answers.append(httpx.post(f"{app.base}{path}", json=body, timeout=30))
    threads = [threading.Thread(target=call, args=(app,)) for app in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_two_replicas_running_the_same_action_at_once_do_it_once(db, db_url, tmp_path):
    apps = [AppProcess(db_url, free_port(), tmp_path).start() for _ in range(2)]
    try:
        job_id, variants = seedlib.start_job(db, tmp_path, variants_count=2)
        wait_for(lambda: job_finished(db, job_id), 60, interval=0.1, what="job finished")
        answers = _at_once(apps, f"/api/yh/jobs/{job_id}/rerun", {"from_step": "planner"})
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        wait_for(lambda: _runs(db, job_id, "instagram_feed_gen", "done") == 2 and job_finished(db, job_id), 60,
                 interval=0.1, what="the re-run finished")
        assert _runs(db, job_id, "planner") == 4  # once per variant, then once per variant again
        assert _runs(db, job_id, "yolo_detect") == 2

        # A job waiting for its English copy: both cancel it at once, one does, the other finds it cancelled.
        waiting, _ = seedlib.create_job(db, tmp_path, variants_count=2, ad_copy_eng=None)
        seedlib.simulate_image_part(db, waiting)
        answers = _at_once(apps, f"/api/yh/jobs/{waiting}/cancel", {})
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        assert sorted(a.json()["already_cancelled"] for a in answers) == [False, True]
        for job, action in ((job_id, "rerun"), (waiting, "cancel")):
            assert [r["action"] for r in _rows(db, "SELECT action FROM operator_actions WHERE job_id = :j",
                                                j=job)] == [action]
    finally:
        for app in apps:
            app.stop()


def test_cancel_one_variant_the_job_finishes_with_the_others_and_a_job_step_reruns_alone(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path)
    base = f"http://127.0.0.1:{settings.port}/api/yh/jobs"
    with serve(create_app(settings, counting_handlers), settings.port):
        # Both variants wait at (img_gen, done) for the text part: cancel one of them before the copy arrives.
        job_id, (dropped, kept) = seedlib.create_job(db, settings.assets_dir, variants_count=2, ad_copy_eng=None)
        seedlib.simulate_image_part(db, job_id)
        r = httpx.post(f"{base}/{job_id}/cancel", json={"job_variants_id": dropped, "reason": "blurry"})
        assert r.status_code == 200 and r.json()["variants_cancelled"] == 1, r.text
        assert httpx.post(f"{base}/{job_id}/cancel", json={"job_variants_id": dropped}).json()["already_cancelled"]
        seedlib.add_text_part(db, job_id, "Fresh coffee, roasted today.")
        db.commit()
        wait_for(lambda: job_finished(db, job_id), 60, interval=0.1, what="the job finished with the kept variant")
        assert _scalar(db, "SELECT count(*) FROM stage_runs WHERE job_variants_id = :v", v=dropped) == 0
        detail = httpx.get(f"{base}/{job_id}").json()
        assert detail["outcome"] == "done"
        assert [v["job_variants_id"] for v in detail["variants"] if v["selected"]] == [kept]
        assert [v["cancel_reason"] for v in detail["variants"]] == ["blurry", None]
        finished = httpx.post(f"{base}/{job_id}/cancel", json={"job_variants_id": kept})
        assert finished.status_code == 409 and "already finished" in finished.json()["detail"]
        assert httpx.post(f"{base}/{job_id}/select", json={"job_variants_id": dropped}).status_code == 409

        r = httpx.post(f"{base}/{job_id}/rerun", json={"from_step": "instagram_feed_gen"})
        assert r.status_code == 200 and r.json()["job_rewound"] is True, r.text
        wait_for(lambda: _runs(db, job_id, "instagram_feed_gen", "done") == 2 and job_finished(db, job_id), 60,
                 interval=0.1, what="the post step ran again")
        assert _runs(db, job_id, "ad_copy_gen_kor") == 1 and _runs(db, job_id, "iou_eval") == 1
        assert [a["action"] for a in httpx.get(f"{base}/{job_id}").json()["actions"]] == ["cancel", "rerun"]
    # Two completion rows: the first post, then the re-run's post (a new delivery id each).
    assert [r["outcome"] for r in _rows(db, "SELECT outcome FROM job_outbox WHERE job_id = :j ORDER BY pk",
                                        j=job_id)] == ["done", "done"]
