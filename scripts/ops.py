"""The operator's CLI: status, tail, retry, cancel, rerun, replay, select, webhook deliveries (docs/operator.md).

    python scripts/ops.py status [JOB_ID] [--finished true] [--outcome cancelled]
    python scripts/ops.py cancel JOB_ID [--variant V] [--reason "wrong product"]
    python scripts/ops.py rerun JOB_ID --from planner [--variant V]
    python scripts/ops.py replay --step ad_copy_gen_kor --since 2026-12-01T09:00 --dry-run
    python scripts/ops.py webhook deliveries --pending
"""
import sys

from services.ops.cli import main

if __name__ == "__main__":
    sys.exit(main())
