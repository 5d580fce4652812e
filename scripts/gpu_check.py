"""In-process LLaVA on a GPU: latency, requests/s and peak memory per batch size, fp16 and 4-bit.

Builds a model with LLaVA-1.5-7B's shapes and random weights straight on the GPU (nothing is downloaded; a
tokenizer trained here), saves it, loads it through LlavaVlm as the service does (VLM_BACKEND=llava), and
for each batch size B sends B analyses at once (the vlm worker's threads), so the backend runs them as one
generate. Random weights never emit end-of-sequence: every reply runs to max_new_tokens (200 for an
analysis), so the figures are worst cases. Meant to finish in well under 8 minutes on one modern GPU.

    python -m scripts.gpu_check [--sizes 1,4,8,16] [--workdir /tmp] [--json out.json]   (from the repo root)
    python -m scripts.gpu_check --tiny     # tiny shapes on the CPU: checks this script, not the GPU
Needs torch, transformers, tokenizers, numpy, pillow, opencv-python-headless (bitsandbytes for 4-bit).
"""
import argparse
import gc
import json
import tempfile
import threading
import time
from pathlib import Path

from scripts.llava_build import build_llava

WORST_CASE = ("random weights never stop early: every reply runs to max_new_tokens (200 tokens an analysis), "
              "so these are worst-case figures; a trained LLaVA answering in ~60 tokens is faster")


def _analyses(vlm, images: list, copy: str) -> float:
    """All analyses at once, one thread each (as the vlm worker's slots call the backend); wall seconds."""
    start, errors = threading.Barrier(len(images) + 1), []

    def one(rgb):
        start.wait()
        try:
            vlm.analyze(rgb, copy)
        except Exception as exc:  # noqa: BLE001 - reported below, the run goes on
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(rgb,)) for rgb in images]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - began


def _spy_prompt(vlm) -> dict:
    """Keeps the first (image, prompt, max_new_tokens) the backend batches, to count its prompt's tokens."""
    real = vlm._batcher.run_batch
    seen: dict = {}

    def spy(items):
        seen.setdefault("item", items[0])
        return real(items)
    vlm._batcher.run_batch = spy
    return seen


def _prompt_tokens(vlm, item) -> int:
    """Tokens of one analysis prompt as the service builds it, image placeholders included (prefill's size)."""
    image, prompt, _ = item
    return int(vlm._processor(images=image, text=prompt, return_tensors="pt")["input_ids"].shape[1])


def run(sizes: list[int], tiny: bool, workdir: str | None, budget: float) -> dict:
    """Build, save, load and measure; returns every figure (also printed as it goes)."""
    import numpy as np
    import torch

    from services.backends.llava import LlavaVlm

    device = "cpu" if tiny else "cuda"
    t0 = time.monotonic()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (1080, 1080, 3), dtype=np.uint8) for _ in range(max(sizes))]
    copy = "Fresh espresso, every morning. Visit us today!"
    report: dict = {"device": torch.cuda.get_device_name(0) if not tiny else "cpu (--tiny)",
                    "shape": "tiny" if tiny else "llava-1.5-7b", "note": WORST_CASE, "rows": [], "skipped": []}
    print(f"device: {report['device']}; shapes: {report['shape']}; {WORST_CASE}", flush=True)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = Path(tmp) / f"llava-random-{report['shape']}"
        build_llava(path, report["shape"], device, torch.float16 if device == "cuda" else torch.float32)
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
        size = sum(f.stat().st_size for f in path.iterdir()) / 2**30
        report["build_seconds"] = round(time.monotonic() - t0, 1)
        print(f"built and saved random weights: {size:.2f} GiB in {report['build_seconds']} s", flush=True)
        try:
            import bitsandbytes  # noqa: F401
            quantized = device == "cuda"
        except ImportError:
            quantized = False
            report["skipped"].append("4bit: bitsandbytes is not installed")
        if tiny:
            report["skipped"].append("4bit: bitsandbytes runs on CUDA only")
        for precision in (["fp16"] if device == "cuda" else ["fp32"]) + (["4bit"] if quantized else []):
            if time.monotonic() - t0 > budget * 0.6 and precision == "4bit":
                report["skipped"].append(f"4bit: time budget ({budget:.0f} s) nearly spent")
                continue
            started = time.monotonic()
            try:
                vlm = LlavaVlm(str(path), "4bit" if precision == "4bit" else "", device=device,  # fp16 on CUDA
                               max_batch_size=max(sizes), batch_wait_ms=2000)  # a batch closes when full
            except Exception as exc:  # noqa: BLE001 - e.g. a bitsandbytes that does not match the CUDA: say why
                report["skipped"].append(f"{precision}: could not load: {type(exc).__name__}: {exc}"[:500])
                print(f"{precision}: could not load: {exc}", flush=True)
                continue
            loaded = time.monotonic() - started
            resident = torch.cuda.memory_allocated() / 2**30 if device == "cuda" else None
            seen = _spy_prompt(vlm)
            vlm._batcher.max_batch = 1
            _analyses(vlm, images[:1], copy)  # warm-up: kernels, allocator (not counted)
            tokens = _prompt_tokens(vlm, seen["item"])
            print(f"{precision}: loaded through LlavaVlm in {loaded:.1f} s ({vlm.describe()['dtype']}), "
                  f"weights {'n/a' if resident is None else f'{resident:.2f}'} GiB, prompt {tokens} tokens",
                  flush=True)
            last = 0.0
            for batch in sizes:
                if time.monotonic() - t0 + 2 * last > budget:
                    report["skipped"].append(f"{precision} batch {batch}: time budget ({budget:.0f} s) spent")
                    continue
                vlm._batcher.max_batch = batch
                if device == "cuda":
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                calls = vlm._batcher.calls
                last = _analyses(vlm, images[:batch], copy)
                peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
                row = {"precision": precision, "batch": batch, "generate_calls": vlm._batcher.calls - calls,
                       "latency_s": round(last, 3), "per_request_s": round(last / batch, 3),
                       "requests_per_s": round(batch / last, 3), "peak_gib": None if peak is None else round(peak, 2),
                       "load_s": round(loaded, 1), "prompt_tokens": tokens, "ooms": vlm._batcher.ooms}
                report["rows"].append(row)
                print(f"  batch {batch:>2}: {row['latency_s']:7.2f} s a request (its batch), "
                      f"{row['requests_per_s']:6.2f} requests/s, peak "
                      f"{'n/a (CPU)' if peak is None else f'{peak:.2f} GiB'}, generate calls {row['generate_calls']}",
                      flush=True)
            vlm.close()  # its batching thread holds the model: stop it, or fp16 stays on the GPU beside 4-bit
            del vlm, seen
            gc.collect()
            if device == "cuda":
                torch.cuda.empty_cache()
    report["total_seconds"] = round(time.monotonic() - t0, 1)
    return report


def table(report: dict) -> str:
    """The figures as a markdown table (docs/gpu.md)."""
    lines = ["| precision | batch | latency a request (s) | requests/s | GPU s a request | peak GPU memory (GiB) |",
             "|---|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['precision']} | {r['batch']} | {r['latency_s']:.2f} | {r['requests_per_s']:.2f} | "
                     f"{r['per_request_s']:.2f} | {'n/a' if r['peak_gib'] is None else r['peak_gib']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,8,16", help="batch sizes, comma list")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes on the CPU (checks the script's logic)")
    parser.add_argument("--workdir", default=None, help="where the random model is saved (needs ~14 GiB)")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds; later runs are skipped past it")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    import torch

    if not args.tiny and not torch.cuda.is_available():
        print("SKIP: no CUDA device here (torch.cuda.is_available() is False). Run this on the GPU machine; "
              "`--tiny` checks the script's logic on a CPU.")
        return 0
    report = run(sizes, args.tiny, args.workdir, args.budget)
    print()
    print(table(report))
    for reason in report["skipped"]:
        print(f"skipped: {reason}")
    print(f"Note: {WORST_CASE}. Total {report['total_seconds']} s.")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
