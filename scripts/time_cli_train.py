"""Wall-clock time of ``backprop train`` with no arguments (the README's first command).

Runs ``python -m backprop train --out TMP`` (progress bar included) REPEATS times in a
subprocess and prints each run's wall time (interpreter start to exit) and the training
time and throughput the command reports itself.

    python scripts/time_cli_train.py [REPEATS]     # default 3
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    walls = []
    for i in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "backprop", "train", "--out", out],
                                  capture_output=True, text=True, env=env, check=True)
            walls.append(time.perf_counter() - start)
        reported = re.search(r"^time .*$", done.stdout, re.MULTILINE).group(0)
        validation = re.search(r"^validation .*$", done.stdout, re.MULTILINE).group(0)
        print(f"run {i + 1}: wall {walls[-1]:.1f} s | {reported} | {validation}")
    walls.sort()
    print(f"median wall time {walls[len(walls) // 2]:.1f} s over {repeats} runs "
          f"({os.cpu_count()} CPU cores visible)")


if __name__ == "__main__":
    main()
