"""scripts/gpu_check.py: skips cleanly without CUDA; its measuring logic runs on the CPU with tiny shapes."""
import pytest
import torch

from scripts import gpu_check


def test_without_cuda_it_skips_with_the_reason(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the real check would run")
    assert gpu_check.main([]) == 0
    assert "SKIP: no CUDA device" in capsys.readouterr().out


def test_tiny_shapes_run_every_batch_size_as_one_generate(tmp_path, capsys):
    report = gpu_check.run([1, 3], tiny=True, workdir=str(tmp_path), budget=600)
    rows = report["rows"]
    assert [(r["precision"], r["batch"], r["generate_calls"]) for r in rows] == [("fp32", 1, 1), ("fp32", 3, 1)]
    assert all(r["requests_per_s"] > 0 and r["latency_s"] > 0 and r["ooms"] == 0 for r in rows)
    assert rows[0]["prompt_tokens"] > 17  # 17 image tokens plus the analysis question
    assert "worst-case" in report["note"] and "4bit: bitsandbytes runs on CUDA only" in report["skipped"]
    table = gpu_check.table(report)
    assert table.count("\n| fp32 |") == 2 and "worst-case" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # the saved model is removed
