"""Seed 004's job creator for the image part (YE): jobs at user_img_input (done), never started here.

Every job gets one image asset (the first --image-paths file) shared by all of its variants. The image part
(or scripts/simulate_image_part.py) moves the variants to img_gen (done), which starts the pipeline.
"""
import argparse
import json
import signal
import time

from scripts import seedlib, store
from scripts.create_test_job import ensure_schema, positive_int, resolve_images
from services.engine.pipeline import JOB_ADVANCED_STEPS

DESC_KOR = "YE 파트 테스트용 이미지"


def job_finished(db, job_id: str) -> str | None:
    """'done' once the job is at (iou_eval, done) or later, 'failed' once it failed for good, else None."""
    db.rollback()  # a fresh snapshot
    row = store.job_step_state(db, job_id=job_id)
    if row is None:
        return "failed"  # deleted under us: nothing to wait for
    step, status, next_retry_at = row
    if status == "failed" and next_retry_at is None:
        return "failed"
    if step in JOB_ADVANCED_STEPS and (step != "iou_eval" or status == "done"):
        return "done"
    return None


def create(db, args, images) -> tuple[str, list[str]]:
    from config import get_settings

    return seedlib.create_job(db, get_settings().assets_dir, tenant_id=args.tenant_id,
                              variants_count=args.variants_count, image_paths=images[:1], one_image=True,
                              ad_copy_eng=None if args.no_text_part else args.ad_copy, desc_kor=DESC_KOR)


def wait_for(db, job_id: str, poll: float, log) -> str:
    """Block until the job reached iou_eval (done) or later (or failed for good)."""
    log(f"waiting for job {job_id} to reach iou_eval (done)")
    last_note = time.monotonic()
    while True:
        result = job_finished(db, job_id)
        if result:
            log(f"job {job_id} {'reached iou_eval (done)' if result == 'done' else 'FAILED for good'}")
            return result
        if time.monotonic() - last_note >= 60:
            step, status, _ = store.job_step_state(db, job_id=job_id)
            log(f"still waiting for job {job_id}: at {step} ({status})")
            last_note = time.monotonic()
        time.sleep(poll)


def _stop(signum, _frame):
    raise KeyboardInterrupt  # SIGTERM ends the loop the same way as Ctrl+C


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Create test jobs for the image part: user_img_input (done), one shared image asset, "
                    "variants waiting for img_gen. Does not start the pipeline. Ctrl+C stops.")
    parser.add_argument("--tenant-id", default="ye_pipeline_test_tenant", help="tenant (default %(default)s)")
    parser.add_argument("--variants-count", type=positive_int, default=3, help="variants per job (default 3)")
    parser.add_argument("--image-paths", nargs="+", metavar="PATH",
                        help="only the first is used, for every variant (default: the first of assets/samples)")
    parser.add_argument("--create-interval", type=float, default=60,
                        help="seconds between jobs without --wait-for-completion (default 60)")
    parser.add_argument("--once", action="store_true", help="create one job and exit")
    parser.add_argument("--wait-for-completion", action="store_true",
                        help="wait until the previous job reached iou_eval (done) before creating the next")
    parser.add_argument("--max-jobs", type=positive_int, help="stop after this many jobs")
    parser.add_argument("--poll-interval", type=float, default=2.0,
                        help="seconds between state checks with --wait-for-completion (default 2)")
    parser.add_argument("--ad-copy", default=seedlib.DEFAULT_AD_COPY,
                        help="English ad copy written as the text part's rows (kor_to_eng, ad_copy_eng)")
    parser.add_argument("--no-text-part", action="store_true",
                        help="leave out the text part's rows: variants then wait at img_gen (done) for the copy")
    parser.add_argument("--json", action="store_true", help="print one JSON line per created job")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    images = resolve_images(args.image_paths)
    max_jobs = 1 if args.once else args.max_jobs

    def log(message: str) -> None:
        if not args.json:
            print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)

    from database import SessionLocal

    signal.signal(signal.SIGTERM, _stop)
    # Ctrl+C stops the loop even when a non-interactive shell started us with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    created = 0
    db = None
    try:
        ensure_schema()
        db = SessionLocal()
        log(f"tenant {args.tenant_id}, {args.variants_count} variant(s) per job, image {images[0]}")
        while True:
            job_id, variant_ids = create(db, args, images)
            created += 1
            if args.json:
                print(json.dumps({"job_id": job_id, "variant_ids": variant_ids, "tenant_id": args.tenant_id}),
                      flush=True)
            log(f"job {created}: {job_id} with variants {', '.join(variant_ids)} at user_img_input (done)")
            if args.wait_for_completion:
                wait_for(db, job_id, args.poll_interval, log)
            if max_jobs and created >= max_jobs:
                break
            if not args.wait_for_completion:
                time.sleep(args.create_interval)
    except KeyboardInterrupt:
        log(f"stopped after {created} job(s)")
        return 0
    finally:
        if db is not None:
            db.close()
    log(f"done: {created} job(s) created")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
