"""The operator's one CLI: job actions (services/ops/cli.py) and the operator scripts as subcommands.

    python scripts/ops.py status [JOB_ID] [--finished true] [--outcome cancelled]
    python scripts/ops.py cancel JOB_ID [--variant V] [--reason "wrong product"]
    python scripts/ops.py rerun JOB_ID --from planner [--variant V]
    python scripts/ops.py replay --step ad_copy_gen_kor --since 2026-12-01T09:00 --dry-run
    python scripts/ops.py webhook deliveries --pending
    python scripts/ops.py migrate status | apply [--dry-run] | verify | repair
    python scripts/ops.py monitor JOB_ID        python scripts/ops.py check-listener --test-trigger
    python scripts/ops.py create-job --start    python scripts/ops.py image-part --all-pending
"""
import importlib

from services.ops import cli

# The operator scripts, folded in: `ops.py NAME ARGS` runs that script's main(ARGS), with its own options
# (`ops.py NAME --help`); each script's own path still works (docs, Dockerfile and tests name some).
FOLDED = {
    "migrate": ("scripts.migrate", "the schema: status, apply [--dry-run], verify, repair (scripts/migrate.py)"),
    "monitor": ("scripts.monitor_job", "follow one job with progress bars until it finishes (scripts/monitor_job.py)"),
    "check-listener": ("scripts.check_listener",
                       "app, listener and NOTIFY triggers working? (scripts/check_listener.py)"),
    "create-job": ("scripts.create_test_job",
                   "a test job whose text part is done; --start runs it (scripts/create_test_job.py)"),
    "image-part": ("scripts.simulate_image_part",
                   "mark variants img_gen done, as the image part does (scripts/simulate_image_part.py)"),
    "gpu-check": ("scripts.gpu_check", "LLaVA-1.5-7B's shapes on this machine's GPU (scripts/gpu_check.py)"),
}


def main(argv: list[str] | None = None) -> int:
    """Run a folded script's main, or one of the job actions; the exit code is theirs."""
    args = cli.command_line(argv)
    if args and args[0] in FOLDED:
        return importlib.import_module(FOLDED[args[0]][0]).main(args[1:])
    return cli.main(args, folded={name: about for name, (_, about) in FOLDED.items()})


if __name__ == "__main__":
    raise SystemExit(main())
