"""Prometheus metrics of the engine and the stages (served at /metrics)."""
from prometheus_client import Counter, Gauge, Histogram

STAGE_SECONDS = Histogram("pipeline_stage_seconds", "Time a stage spent from claim to commit", ["stage"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180))
STAGE_RUNS = Counter("pipeline_stage_runs_total", "Stage executions by outcome", ["stage", "outcome"])
STAGE_RETRIES = Counter("pipeline_stage_retries_total", "Retries scheduled after a failure", ["stage"])
DISPATCHES = Counter("pipeline_dispatches_total", "Stage requests sent by the engine", ["stage", "http_status"])
DISPATCH_LATENCY = Histogram("pipeline_dispatch_seconds", "From a NOTIFY arriving to the stage answering",
                             ["stage"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30, 180))
NOTIFICATIONS = Counter("pipeline_notifications_total", "NOTIFY messages received", ["channel", "valid"])
LISTENER_RECONNECTS = Counter("pipeline_listener_reconnects_total", "Times the listener reconnected")
LISTENER_CONNECTED = Gauge("pipeline_listener_connected", "1 while the LISTEN connection is up")
COMMIT_RETRIES = Counter("pipeline_commit_retries_total", "Stage commits retried while the database was unreachable")
SWEEPER_RECOVERED = Counter("pipeline_sweeper_recovered_total", "Rows the sweeper re-dispatched or expired",
                            ["kind"])
ROWS_WAITING = Gauge("pipeline_rows_waiting", "Variant rows per (step, status)", ["step", "status"])
WAITING_START_GATE = Gauge("pipeline_start_gate_waiting", "Variants waiting for their English copy longer than "
                           "START_GATE_WARN_SECONDS")
JOBS_HELD_UPSTREAM = Gauge("pipeline_jobs_held_upstream", "Jobs held by a variant stuck upstream longer than "
                           "START_GATE_WARN_SECONDS")
WORKER_RESTARTS = Gauge("pipeline_worker_restarts", "Worker processes replaced (killed or crashed)", ["group"])
GPU_AVAILABLE = Gauge("pipeline_gpu_available", "1 when a CUDA device is visible to the model's process")
GPU_MEMORY = Gauge("pipeline_gpu_memory_bytes", "GPU memory per device: allocated and reserved by the model's "
                   "process (torch), used and total on the device", ["device", "kind"])
GPU_UTILIZATION = Gauge("pipeline_gpu_utilization_percent", "GPU utilisation per device (NVML)", ["device"])
GPU_OOMS = Gauge("pipeline_gpu_oom_total", "CUDA out-of-memory errors in the VLM backend since its process started")


def set_gpu(report: dict) -> None:
    """The GPU gauges from a gpu report (services/backends/gpu.py); a figure nobody could read is left out."""
    GPU_AVAILABLE.set(1 if report.get("available") else 0)
    GPU_OOMS.set(report.get("oom_count") or 0)
    GPU_MEMORY.clear()
    GPU_UTILIZATION.clear()
    for device in report.get("devices", []):
        index = str(device["index"])
        for kind in ("allocated", "reserved", "used", "total"):
            if device.get(f"memory_{kind}_bytes") is not None:
                GPU_MEMORY.labels(index, kind).set(device[f"memory_{kind}_bytes"])
        if device.get("utilization_percent") is not None:
            GPU_UTILIZATION.labels(index).set(device["utilization_percent"])


# Fair share and rate limits (issue 26).
QUEUE_DEPTH = Gauge("pipeline_queue_depth", "Rows waiting for a stage (previous step done, or a retry due)",
                    ["stage", "tenant"])
QUEUE_OLDEST = Gauge("pipeline_queue_oldest_wait_seconds", "How long the oldest row waiting for a stage has waited",
                     ["stage", "tenant"])
DISPATCH_QUEUED = Gauge("pipeline_dispatch_queued", "Stage requests queued in this process (fair queue)", ["stage"])
RATE_LIMIT = Gauge("pipeline_rate_limit", "A provider's budget per window: configured and effective (after 429s)",
                   ["provider", "kind"])
RATE_LIMIT_USED = Gauge("pipeline_rate_limit_used", "Requests and tokens a provider was sent in the current window",
                        ["provider", "kind"])
RATE_LIMIT_WAITS = Counter("pipeline_rate_limit_waits_total", "Calls that waited for the provider's budget",
                           ["provider"])
RATE_LIMIT_WAIT_SECONDS = Counter("pipeline_rate_limit_wait_seconds_total", "Seconds calls waited for budget",
                                  ["provider"])
PROVIDER_THROTTLED = Counter("pipeline_provider_throttled_total", "429 answers from a provider (budget shrunk)",
                             ["provider"])
