"""Seed 003's image-part skeleton, where the seed runs it: `python3 test/test_ye_img_gen_trigger.py --tenant-id T`.

Marks the tenant's variants at user_img_input (done) as img_gen running, then done (scripts/simulate_image_part.py,
seed 003's statements), then checks, as the seed's "method 1" does, that the listener moved them on.
Not a pytest module: test/conftest.py keeps pytest from collecting it.
"""
import argparse
import sys
import time

from sqlalchemy import text

from scripts import simulate_image_part


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="The image part for one tenant: img_gen (done) for every variant at "
                                                 "user_img_input (done), then check the pipeline picked them up.")
    parser.add_argument("--tenant-id", required=True, help="e.g. ye_pipeline_test_tenant")
    parser.add_argument("--limit", type=int, help="at most this many variants")
    parser.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the listener (seed 003: 5-10)")
    args = parser.parse_args(argv)
    from database import SessionLocal

    db = SessionLocal()
    try:
        rows = simulate_image_part.run(db, tenant_id=args.tenant_id, all_pending=True, limit=args.limit)
        if not rows:
            print(f"no variants at user_img_input (done) for tenant {args.tenant_id}: "
                  "create one with scripts/background_ye_pipeline_test.py --once")
            return 0
        for job_id, variant_id in rows:
            print(f"✅ 상태 업데이트 완료: img_gen (done) job {job_id} variant {variant_id}", flush=True)
        waiting = {variant_id for _, variant_id in rows}
        deadline = time.monotonic() + args.wait
        while waiting and time.monotonic() < deadline:
            time.sleep(0.2)
            db.rollback()
            moved = db.execute(text("SELECT job_variants_id::text FROM jobs_variants WHERE job_variants_id::text = "
                                    "ANY(:ids) AND current_step <> 'img_gen'"), {"ids": list(waiting)}).scalars()
            waiting -= set(moved)
    finally:
        db.close()
    if waiting:
        print(f"⚠ {len(waiting)} variant(s) still at img_gen after {args.wait:.0f} s: the listener did not react "
              "(check it with python3 test/test_listener_status.py)")
        return 1
    print("✅ 리스너가 정상 작동했습니다! every variant moved past img_gen")
    return 0


if __name__ == "__main__":
    sys.exit(main())
