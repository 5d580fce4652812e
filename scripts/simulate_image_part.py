"""Simulate the image part (seed 003): mark variants img_gen running, then img_gen done (this starts the pipeline).

Only variants at user_img_input (done) are touched unless --force is given, so a job that is already
in the pipeline is never rewound by accident.
"""
import argparse
import sys
import time
import uuid

from scripts import seedlib, store


def flip(db, variant_id: str, delay: float = 0.0) -> None:
    """Seed 003's two statements for one variant, each committed: running, (generation), done."""
    store.img_gen(db, variant_id=variant_id, status="running")
    db.commit()
    if delay:
        time.sleep(delay)  # stands in for the image generation
    store.img_gen(db, variant_id=variant_id, status="done")
    db.commit()


def run(db, job_id: str | None = None, all_pending: bool = False, tenant_id: str | None = None,
        force: bool = False, delay: float = 0.0, limit: int | None = None) -> list[tuple[str, str]]:
    """Flip the selected variants to img_gen done; returns [(job_id, variant_id)]."""
    if job_id and force:
        if not store.job_exists(db, job_id=job_id):
            raise LookupError(f"job {job_id} not found")
        if delay:
            rows = [(job_id, v) for v in store.variant_ids(db, job_id=job_id)]
        else:
            return [(job_id, v) for v in seedlib.simulate_image_part(db, job_id)]
    else:
        rows = store.pending_image_part(db, job_id=job_id if not all_pending else None, tenant_id=tenant_id)
        db.commit()
        if job_id and not rows:
            exists = store.count_variants(db, job_id=job_id)
            if not exists:
                raise LookupError(f"job {job_id} not found (or it has no variants)")
    if limit:
        rows = rows[:limit]
    for _, variant_id in rows:
        flip(db, variant_id, delay)
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The image part: mark variants at user_img_input (done) as img_gen running, then img_gen done, "
                    "with seed 003's statements. The trigger then starts the pipeline.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--job-id", help="the variants of this job")
    target.add_argument("--all-pending", action="store_true",
                        help="every variant at user_img_input (done), oldest first")
    parser.add_argument("--tenant-id", help="with --all-pending: only this tenant's variants")
    parser.add_argument("--limit", type=int, help="with --all-pending: at most this many variants")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between running and done (default 0)")
    parser.add_argument("--force", action="store_true",
                        help="with --job-id: flip every variant, even ones already past user_img_input")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.job_id:
        try:
            args.job_id = str(uuid.UUID(args.job_id))
        except ValueError:
            print(f"error: {args.job_id!r} is not a job id (UUID)", file=sys.stderr)
            return 1
    from database import SessionLocal

    db = SessionLocal()
    try:
        rows = run(db, args.job_id, args.all_pending, args.tenant_id, args.force, args.delay, args.limit)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    if not rows:
        where = f"job {args.job_id}" if args.job_id else \
            f"tenant {args.tenant_id}" if args.tenant_id else "the database"
        print(f"no variants at user_img_input (done) in {where}" + (" (use --force to redo)" if args.job_id else ""))
        return 0
    for job_id, variant_id in rows:
        print(f"img_gen done: job {job_id} variant {variant_id}")
    print(f"{len(rows)} variant(s) flipped to img_gen (done); the listener starts vlm_analyze")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
