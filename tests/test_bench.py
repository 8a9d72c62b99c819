"""The benchmark script runs end to end in its --quick mode (so it cannot rot)."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"


def test_bench_quick_prints_the_table():
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--threads", "1"],
                          capture_output=True, text=True, timeout=300)
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
