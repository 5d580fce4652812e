"""The sweeper's and /healthz's queries stay cheap with 100k finished jobs: partial indexes, not scans."""
import asyncio

import asyncpg
import pytest

from config import Settings
from scripts.history import seed_history, sweep_queries, time_query

# The partial indexes (of unfinished rows only) a query may use; its plan must name one of them.
_RUNNING_V, _UNFINISHED_V = ("idx_jv_running_",), ("idx_jv_done_unfinished", "idx_jv_unfinished_step", "idx_jv_retry_due")
EXPECTED_INDEX = {
    "expire_variant_leases": _RUNNING_V,
    "expire_job_leases": ("idx_jobs_running_",),
    "unadvanced_jobs": ("idx_jobs_not_advanced",),
    "stalled_variants": _UNFINISHED_V,
    "stalled_jobs": ("idx_jobs_done_unfinished", "idx_jobs_retry_due"),
    "waiting_counts": ("idx_jv_unfinished_step",),
    "oldest_pending (/healthz)": _RUNNING_V + _UNFINISHED_V,
    "queue_depths": _UNFINISHED_V,  # /metrics queue depth per stage and tenant (issue 26)
}


def _uses(plan: str, names: tuple) -> bool:
    return any(name in plan for name in names)


@pytest.mark.slow
def test_sweeper_queries_on_100k_finished_jobs(db_url, capsys):
    async def measure():
        conn = await asyncpg.connect(db_url)
        try:
            await seed_history(conn, 100_000)
            return {name: await time_query(conn, sql, args)
                    for name, (sql, args) in sweep_queries(Settings(_env_file=None)).items()}
        finally:
            await conn.close()
    results = asyncio.run(measure())
    with capsys.disabled():
        for name, (ms, _) in results.items():
            print(f"\n  {name}: {ms:.2f} ms (median, 100k finished jobs / 300k variants)", end="")
            if not _uses(_, EXPECTED_INDEX[name]):
                print("\n" + _)
    for name, (ms, plan) in results.items():
        assert _uses(plan, EXPECTED_INDEX[name]), (name, plan)
        assert "Seq Scan on jobs_variants" not in plan and "Seq Scan on jobs " not in plan + " ", (name, plan)
        assert ms < 10, (name, ms, plan)
    assert set(results) == set(EXPECTED_INDEX)
