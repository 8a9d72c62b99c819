"""The benchmark script runs end to end in its --quick mode (so it cannot rot)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"


def test_bench_quick_prints_the_table():
    """Each library runs alone, one process at a time (PyTorch's and scikit-learn's
    workers are the same code; they are left out here to keep the suite fast)."""
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--threads", "1",
                           "--libs", ""], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for row in ("| mnist 64-32-10 b50 (s/epoch) |", "| deep 64-48-48-10 b64 (s/epoch) |",
                "| full-batch 64-32-10 (s/epoch) |", "| inference 64-32-10 (s) |",
                "| inference (M samples/s) |", "| peak memory (MiB, whole process) |"):
        assert row in out
    mnist = next(line for line in out.splitlines() if line.startswith("| mnist"))
    backprop_time = mnist.split("|")[2].strip()
    assert float(backprop_time) > 0


def test_bench_rejects_bad_threads():
    proc = subprocess.run([sys.executable, str(BENCH), "--threads", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "--threads" in proc.stderr


def _gpu_available() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:                      # ImportError or CUDARuntimeError
        return False


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu_available(), reason="needs CuPy and a CUDA GPU")
def test_bench_quick_on_the_gpu():
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--device", "cuda"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "device: cuda" in proc.stdout and "| mnist 64-32-10 b50 (s/epoch) |" in proc.stdout


def test_bench_reference_mode_runs_the_array_api_path():
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--threads", "1",
                           "--reference", "--libs", "", "--only", "mnist"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "array-API reference operations" in proc.stdout
    assert "| mnist 64-32-10 b50 (s/epoch) |" in proc.stdout
    assert "| deep" not in proc.stdout
