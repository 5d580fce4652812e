"""Served-VLM benchmark: jobs/min against a simulated GPU server (continuous batching) per VLM_CONCURRENCY."""
import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from scripts import seedlib, store_bench
from services.ops.testing import close_session, fresh_database

ROOT = Path(__file__).resolve().parents[1]

MODEL = "llava-hf/llava-1.5-7b-hf"
REPLIES = {  # valid answers of the two schemas (services/backends/served.py)
    "ad_image_analysis": {"suitable": True, "copy_fits": True, "subject": "a cup", "subject_box": [0.3, 0.4, 0.7, 0.9],
                          "free_regions": [[0.0, 0.0, 1.0, 0.3]], "reason": "calm area at the top"},
    "ad_image_judgement": {"legibility": 8, "placement": 7, "harmony": 7, "covers_product": False, "overall": 7.5,
                           "reason": "clear text"},
}


class GpuServer:
    """A chat-completions server that behaves like a GPU with continuous batching: every request takes
    `seconds` whether 1 or `slots` run at once; more than `slots` queue."""

    def __init__(self, slots: int, seconds: float) -> None:
        self.slots, self.seconds = slots, seconds
        self.gate = threading.Semaphore(slots)
        self.log: list[tuple[str, float, float]] = []  # (schema, service start, end), perf_counter
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the SDK reuses connections

            def do_GET(self) -> None:
                self._send({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                name = body["response_format"]["json_schema"]["name"]
                with outer.gate:
                    start = time.perf_counter()
                    time.sleep(outer.seconds)
                    outer.log.append((name, start, time.perf_counter()))
                self._send({"id": "c", "object": "chat.completion", "created": 0, "model": body["model"],
                            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                "role": "assistant", "content": json.dumps(REPLIES[name])}}],
                            "usage": {"prompt_tokens": 600, "completion_tokens": 40, "total_tokens": 640}})

            def _send(self, reply: dict) -> None:
                payload = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        ThreadingHTTPServer.request_queue_size = 256
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def utilisation(self, cap: int) -> tuple[float, float]:
        """Requests/s and busy share of min(slots, cap) slots from the first request to the last analysis:
        the window in which analyses were always waiting, so the server could have been full."""
        first = min(s for _, s, _ in self.log)
        last = max(e for n, _, e in self.log if n == "ad_image_analysis")
        busy = sum(max(0.0, min(e, last) - max(s, first)) for _, s, e in self.log)
        done = sum(1 for _, s, e in self.log if e <= last)
        return done / (last - first), busy / ((last - first) * min(self.slots, cap))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def stage_busy(runs: Sequence) -> dict[str, tuple[float, float]]:
    """Per stage: seconds at least one run was going (union of intervals), and the sum of run times."""
    out: dict[str, list] = {}
    for step, start, end in runs:  # ordered by start
        busy, total, last = out.setdefault(step, [0.0, 0.0, None])
        start, end = float(start), float(end)
        busy += end - start if last is None or start >= last else max(0.0, end - last)
        out[step] = [busy, total + end - start, end if last is None else max(last, end)]
    return {step: (busy, total) for step, (busy, total, _) in out.items()}


def start_app(url: str, port: int, assets: Path, env: dict) -> subprocess.Popen:
    """`uvicorn main:app` with the given settings; returns once /healthz answers."""
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT,
                            env={**os.environ, "DATABASE_URL": url, "PORT": str(port), "HOST": "127.0.0.1",
                                 "ASSETS_DIR": str(assets), "LOG_LEVEL": "WARNING", **env})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code in (200, 503):
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the app did not come up")


def run(args, concurrency: int, slots: int) -> dict:
    """20 jobs x 3 variants at once through one app process; wall time on the database clock."""
    server = GpuServer(slots, args.seconds)
    url = asyncio.run(fresh_database(args.admin_url, "adpipe_bench_vlm"))
    assets = Path("/tmp/adpipe_bench_vlm_assets")
    db = Session(bind=create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1)))
    app = start_app(url, args.port, assets, {"VLM_BACKEND": "openai", "VLM_BASE_URL": server.url, "VLM_MODEL": MODEL,
                                             "VLM_CONCURRENCY": str(concurrency), "VLM_TIMEOUT_SECONDS": "120"})
    try:
        jobs = [seedlib.create_job(db, assets, variants_count=args.variants)[0] for _ in range(args.jobs)]
        for job_id in jobs:
            seedlib.simulate_image_part(db, job_id)
        while store_bench.count(db, what="settled_jobs") < args.jobs:
            db.rollback()
            time.sleep(0.5)
        wall = float(store_bench.wall_seconds(db))
        # The VLM side alone: until the last judgement (the CPU-bound evaluations and text stages follow it).
        judged = float(store_bench.wall_seconds(db, until_step="vlm_judge"))
        failed = store_bench.count(db, what="failed_jobs")
        busy = stage_busy(store_bench.done_run_times(db))
    finally:
        app.terminate()
        app.wait(30)
        close_session(db)
        server.close()
    rate, share = server.utilisation(2 * concurrency)
    return {"wall": wall, "jobs_min": args.jobs / wall * 60, "judged_min": args.jobs / judged * 60, "failed": failed,
            "vlm_rate": rate, "vlm_share": share, "busy": busy, "requests": len(server.log)}


def backend_alone(concurrency: int, slots: int, seconds: float, calls: int) -> float:
    """Requests/s of the served backend itself (`concurrency` threads, no engine, no other stages)."""
    from concurrent.futures import ThreadPoolExecutor

    from services.backends.served import ServedVlm
    from services.imaging.imageio import load_rgb

    server = GpuServer(slots, seconds)
    vlm = ServedVlm(server.url, MODEL, timeout=120, concurrency=concurrency)
    rgb = load_rgb(seedlib.SAMPLE_IMAGES[0])
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: vlm.analyze(rgb, seedlib.DEFAULT_AD_COPY) if i % 2 else
                      vlm.judge(rgb, [20, 20, 200, 80], {}), range(calls)))
    server.close()
    return calls / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    """Print jobs/min per VLM_CONCURRENCY, the server's use, and the stages that kept it waiting."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--concurrency", default="1,4,8,16", help="VLM_CONCURRENCY values to run")
    parser.add_argument("--slots", type=int, default=16, help="requests the simulated GPU runs at once")
    parser.add_argument("--seconds", type=float, default=1.0, help="time of every request, batched or not")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process row")
    parser.add_argument("--backend-only", action="store_true", help="only the backend without the engine")
    args = parser.parse_args(argv)
    # The in-process path: the stage table's concurrency 1, and one LLaVA per process whose lock both VLM
    # stages share, so the GPU runs one request at a time: the same app against a 1-slot server.
    rows = [(f"VLM_CONCURRENCY={c}", c, args.slots) for c in map(int, args.concurrency.split(","))]
    if not args.no_in_process:
        rows.append(("in-process LLaVA (1, one GPU call at a time)", 1, 1))
    for c in (1, 16):
        rate = backend_alone(c, args.slots, args.seconds, 4 * args.slots)
        print(f"served backend alone, {c} thread(s), {4 * args.slots} calls: {rate:.2f} requests/s = "
              f"{rate / (min(c, args.slots) / args.seconds):.0%} of {min(c, args.slots) / args.seconds:g}/s", flush=True)
    if args.backend_only:
        return 0
    results = {}
    print(f"{args.jobs} jobs x {args.variants} variants, simulated GPU: {args.slots} slots x {args.seconds:g} s "
          f"(capacity {args.slots / args.seconds:g} requests/s); other stages: default CPU backends")
    for label, concurrency, slots in rows:
        r = results[label] = run(args, concurrency, slots)
        r["cap"] = min(slots, 2 * concurrency) / args.seconds  # two VLM stages, `concurrency` each
        top = sorted(r["busy"].items(), key=lambda kv: -kv[1][0])[:3]
        r["top"] = ", ".join(f"{k} {b:.0f} s" for k, (b, _) in top)
        print(f"{label}: {r['jobs_min']:.1f} jobs/min end to end (wall {r['wall']:.1f} s, {r['failed']} failed), "
              f"{r['judged_min']:.1f} jobs/min through vlm_judge, VLM {r['vlm_rate']:.2f} requests/s while analyses "
              f"waited = {r['vlm_share']:.0%} of {r['cap']:g}/s; stages busiest (s with a run going): {r['top']}",
              flush=True)
    base = results.get("VLM_CONCURRENCY=1")
    print("\n| run | jobs/min end to end | jobs/min through vlm_judge | VLM requests/s while analyses waited "
          "| busiest stages (s with a run going) |\n|---|---|---|---|---|")
    for label, r in results.items():
        gain = f" ({r['jobs_min'] / base['jobs_min']:.1f}x, {r['judged_min'] / base['judged_min']:.1f}x)" if base else ""
        print(f"| {label} | {r['jobs_min']:.1f} | {r['judged_min']:.1f}{gain} | {r['vlm_rate']:.2f} = "
              f"{r['vlm_share']:.0%} of {r['cap']:g} | {r['top']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
