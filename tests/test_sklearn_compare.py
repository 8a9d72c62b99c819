"""The side-by-side script (scripts/sklearn_compare.py) runs end to end in --quick mode."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "sklearn_compare.py"


def test_quick_comparison_prints_the_table():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--seeds", "2",
         "--datasets", "digits,diabetes,multilabel", "--markdown"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in proc.stdout.splitlines() if line.startswith("| ")}
    assert set(rows) == {"data set", "digits", "diabetes", "multilabel"}
    assert rows["data set"][2:5] == ["backprop", "epochs", "fit (s)"]
    for name, metric in (("digits", "accuracy"), ("diabetes", "R²"), ("multilabel", "accuracy")):
        row = rows[name]
        assert row[1] == metric
        ours, theirs = (float(row[i].split(" ± ")[0]) for i in (2, 5))
        assert abs(ours - theirs) < 0.1 and float(row[4]) > 0 and float(row[-1]) > 0


def test_rejects_unknown_datasets():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--datasets", "cifar"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "--datasets" in proc.stderr
