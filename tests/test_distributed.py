"""Data-parallel training over MPI (issue 11): real ranks under ``mpiexec`` against one
process on all the rows.

The scenarios (tests/mpi_scenarios.py) run in two launches, 2 ranks with even shards
and 3 ranks holding 5, 20 and 25 of the 50 rows; their results are compared with the
same functions run here without ``comm``. Further launches: a rank failing inside an
epoch, and the command line (train, resume). Everything needing MPI skips without
mpi4py and ``mpiexec``; the GPU cases are marked ``gpu``.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import backprop as bp
from backprop import cli, distributed
from backprop.device import to_host

sys.path.insert(0, str(Path(__file__).parent))
import mpi_scenarios as scenarios  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None and MPIEXEC is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="needs mpi4py and mpiexec "
                                                    "(pip install 'backprop[mpi]')")
LAUNCHES = {"2 ranks": (2, "even"), "3 uneven ranks": (3, "5,20,25")}
EQUAL = ["sgd", "momentum_decay", "adam_weighted", "per_sample_decay", "online", "regression",
         "line_search", "memory_mapped"]


def mpiexec(n, *args, timeout=120):
    """``mpiexec -n n`` with one BLAS thread per rank: (status, stdout, stderr, seconds)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.perf_counter()
    done = subprocess.run([MPIEXEC, "-n", str(n), *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)
    return done.returncode, done.stdout, done.stderr, time.perf_counter() - start


@pytest.fixture(scope="module")
def launches(tmp_path_factory):
    """Every scenario on 2 and on 3 ranks, once: {launch: (folder, ranks)}."""
    folders = {}
    for name, (ranks, split) in LAUNCHES.items():
        folder = tmp_path_factory.mktemp(name.replace(" ", "-"))
        X, y, _, _ = scenarios.data()
        np.save(folder / "X.npy", X)
        np.save(folder / "y.npy", y)
        status, _, err, _ = mpiexec(ranks, sys.executable, "tests/mpi_scenarios.py",
                                    str(folder), split)
        assert status == 0, err
        folders[name] = (folder, ranks)
    return folders


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The scenarios in this process on all rows: {name: result}."""
    folder = tmp_path_factory.mktemp("single")
    X, y, _, _ = scenarios.data()
    np.save(folder / "X.npy", X)
    np.save(folder / "y.npy", y)
    part = scenarios.Part(None, "even", folder)
    return {name: scenarios.SCENARIOS[name](part) for name in EQUAL + ["float32", "divergence"]}


def ranks_results(launch, name):
    folder, ranks = launch
    results = []
    for r in range(ranks):
        with np.load(folder / f"{name}.{r}.npz") as f:
            results.append({k: f[k] for k in f.files})
    return results


@needs_mpi
@pytest.mark.parametrize("launch", sorted(LAUNCHES))
@pytest.mark.parametrize("name", EQUAL)
def test_ranks_train_exactly_as_one_process(launches, reference, launch, name):
    """θ and every learning curve equal single-process training to 1e-10 (float64), and
    all ranks hold bit-identical results."""
    results = ranks_results(launches[launch], name)
    expected = reference[name]
    for key, value in expected.items():
        np.testing.assert_allclose(results[0][key], value, rtol=1e-10, atol=1e-12, err_msg=key)
        for other in results[1:]:
            assert np.array_equal(other[key], results[0][key]), key
    assert {"theta", "cost"} <= expected.keys() and len(expected["cost"]) >= 2


@needs_mpi
@pytest.mark.parametrize("launch", sorted(LAUNCHES))
def test_float32_ranks_agree_with_one_process_to_rounding(launches, reference, launch):
    results = ranks_results(launches[launch], "float32")
    np.testing.assert_allclose(results[0]["theta"], reference["float32"]["theta"], rtol=1e-4,
                               atol=1e-5)
    assert all(np.array_equal(r["theta"], results[0]["theta"]) for r in results)


@needs_mpi
@pytest.mark.parametrize("launch", sorted(LAUNCHES))
def test_divergence_stops_every_rank_at_the_same_iteration(launches, reference, launch):
    expected = reference["divergence"]
    assert expected["iteration"] > 0
    for result in ranks_results(launches[launch], "divergence"):
        assert result["iteration"] == expected["iteration"]
        assert result["epoch"] == expected["epoch"]
        np.testing.assert_allclose(result["theta"], expected["theta"], rtol=1e-10)
        np.testing.assert_allclose(result["cost"], expected["cost"], rtol=1e-10)


@needs_mpi
@pytest.mark.parametrize("launch", sorted(LAUNCHES))
@pytest.mark.parametrize("name, own, others", [
    ("bad_input", "BackpropError: X must contain only finite values",
     "BackpropError: rank {last} of {ranks}: X must contain only finite values"),
    ("other_seed", "BackpropError: the ranks disagree on the parameters θ at the start",
     "BackpropError: the ranks disagree on the parameters θ at the start"),
    ("failing_callback", "OSError: no space left on device",
     "BackpropError: rank {last} of {ranks}: OSError: no space left on device"),
])
def test_an_error_on_one_rank_is_raised_on_every_rank(launches, launch, name, own, others):
    results = ranks_results(launches[launch], name)
    ranks = len(results)
    messages = [str(r["message"]) for r in results]
    assert messages[-1].startswith(own), messages
    for message in messages[:-1]:
        assert message.startswith(others.format(last=ranks - 1, ranks=ranks)), messages


@needs_mpi
def test_a_rank_failing_inside_an_epoch_stops_all_ranks(tmp_path):
    """Inside an epoch the ranks meet only in the all-reduce: the failing rank prints one
    line and aborts the job, which ends at once instead of hanging."""
    program = tmp_path / "fail.py"
    program.write_text(
        "import sys; sys.path.insert(0, 'tests')\n"
        "import numpy as np, backprop as bp\n"
        "from backprop import distributed\n"
        "from backprop.step import Step\n"
        "import mpi_scenarios as m\n"
        "comm = distributed.world()\n"
        "step, calls = Step.__call__, []\n"
        "def failing(self, *args):\n"
        "    calls.append(1)\n"
        "    if comm.Get_rank() == 1 and len(calls) == 4:\n"
        "        raise RuntimeError('a bug in the step')\n"
        "    return step(self, *args)\n"
        "Step.__call__ = failing\n"
        "X, y, _, _ = m.data()\n"
        "rows = slice(*distributed.local_rows(len(X), comm))\n"
        "bp.fit(m.net(), 'cross_entropy', bp.SGD(0.1), X[rows], y[rows], epochs=50,\n"
        "       batch_size=4, comm=comm)\n"
        "print('finished', comm.Get_rank(), flush=True)\n")
    status, out, err, seconds = mpiexec(2, sys.executable, str(program), timeout=60)
    assert status != 0 and "finished" not in out
    assert err.count("backprop: rank 1 of 2 failed: RuntimeError: a bug in the step") == 1, err
    assert seconds < 30


@needs_mpi
def test_the_command_line_trains_on_ranks_as_one_process_and_resumes(tmp_path, capsys):
    """``mpiexec -n 2 backprop train``: only rank 0 prints and writes; 2 epochs on two
    ranks, resumed from the checkpoint to 3 on two ranks and to 4 on three, equal 4
    epochs in one process (weights), and the same resumes in one process (curves)."""
    options = ["--hidden", "16", "--dtype", "float64", "--eval-every", "7", "--no-progress"]
    run = tmp_path / "ranks"
    status, out, err, _ = mpiexec(2, sys.executable, "-m", "backprop", "train", *options,
                                  "--epochs", "2", "--out", str(run))
    assert status == 0, err
    assert out.count("Sequential 784-16-10") == 1 and "2 MPI ranks" in out
    assert out.count("validation cost") == 1 and out.count("wrote ") == 1
    for ranks, epochs in ((2, "3"), (3, "4")):
        status, out, err, _ = mpiexec(ranks, sys.executable, "-m", "backprop", "train",
                                      "--resume", str(run), "--epochs", epochs, "--no-progress")
        assert status == 0, err
    single, resumed = tmp_path / "single", tmp_path / "resumed"
    assert cli.main(["train", *options, "--epochs", "4", "--out", str(single)]) == 0
    assert cli.main(["train", *options, "--epochs", "2", "--out", str(resumed)]) == 0
    for epochs in ("3", "4"):
        assert cli.main(["train", "--resume", str(resumed), "--epochs", epochs,
                         "--no-progress"]) == 0
    one_process = capsys.readouterr().out
    for other in (single, resumed):
        np.testing.assert_allclose(bp.load(run / "model.npz").get_flat(),
                                   bp.load(other / "model.npz").get_flat(), rtol=1e-10,
                                   atol=1e-13)
    ranks_csv, single_csv = (np.genfromtxt(p / "history.csv", delimiter=",", skip_header=1)
                             for p in (run, resumed))
    np.testing.assert_allclose(ranks_csv, single_csv, rtol=1e-10, equal_nan=True)
    # the same summary lines (the scores are reduced over the ranks)
    summary = [line for line in out.splitlines() if line.startswith(("train ", "validation "))]
    assert len(summary) == 2 and all(line in one_process for line in summary)


@needs_mpi
def test_the_command_line_reports_an_error_of_every_rank_once(tmp_path):
    """A divergence (found by every rank) is one error line, from rank 0, and status 1."""
    status, out, err, _ = mpiexec(2, sys.executable, "-m", "backprop", "train", "--hidden", "8",
                                  "--loss", "squared_error", "--lr", "50", "--no-progress",
                                  "--out", str(tmp_path))
    assert status == 1 and out.count("Sequential 784-8-10") == 1
    assert err.count("\n") == 1 and err.startswith("backprop train: error: training diverged")


def test_without_mpi4py_the_error_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(bp.BackpropError, match=r"mpi4py.*pip install 'backprop\[mpi\]'"):
        distributed.world()
    with pytest.raises(bp.BackpropError, match=r"backprop\[mpi\]"):
        bp.fit(scenarios.net(), "cross_entropy", "sgd", *scenarios.data()[:2], comm=object())
    monkeypatch.setenv("PMI_SIZE", "4")           # as if started by mpiexec -n 4
    assert cli.main(["train", "--epochs", "1", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "backprop[mpi]" in err and "Traceback" not in err


def test_local_rows_are_contiguous_blocks_in_rank_order():
    class Comm:
        def __init__(self, rank, size):
            self.rank, self.size = rank, size

        def Get_rank(self):
            return self.rank

        def Get_size(self):
            return self.size

    for n, size in [(50, 3), (7, 7), (10, 4), (3, 5), (100, 1)]:
        blocks = [distributed.local_rows(n, Comm(r, size)) for r in range(size)]
        assert blocks[0][0] == 0 and blocks[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
        lengths = [b - a for a, b in blocks]
        assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)


@needs_mpi
def test_the_flat_buffer_holds_the_gradient_in_the_order_of_theta(tmp_path):
    """dW⁽ˡ⁾ and db⁽ˡ⁾ of the step are views into one buffer laid out as θ (6.17), with J
    and the misclassification after them: one Allreduce sums all three."""
    from mpi4py import MPI

    from backprop.step import Step

    X, y, _, _ = scenarios.data()
    net = scenarios.net()
    dist = distributed.DataParallel(MPI.COMM_SELF)
    loss = bp.losses.get("cross_entropy")
    T = net.targets(y, loss, len(y))
    dist.start(net, net.inputs(X), T, None, None, {})
    step = Step(net, loss, bp.SGD(0.1), reduce=dist)
    weights = dist.weights(None, len(y), len(y))
    J, grads, error = dist(*net.gradients(net.inputs(X), T, loss, 0.0, weights, step.ws), 0.0)
    assert all(np.shares_memory(g, dist.flat) for pair in grads for g in pair)
    np.testing.assert_array_equal(dist.flat[:net.n_params], to_host(net.flatten(grads)))
    J_ref, grads_ref = scenarios.net().backprop(X, y, loss)
    np.testing.assert_allclose(dist.flat[:net.n_params], to_host(scenarios.net().flatten(
        grads_ref)), rtol=1e-12)
    assert dist.flat[-2] == J and float(J) == pytest.approx(float(J_ref), rel=1e-12)
    assert dist.flat[-1] == error


@needs_mpi
def test_bad_communicators_and_backends_are_refused():
    import array_api_strict
    from mpi4py import MPI

    X, y, _, _ = scenarios.data()
    with pytest.raises(bp.BackpropTypeError, match="comm must be an mpi4py communicator"):
        bp.fit(scenarios.net(), "cross_entropy", "sgd", X, y, comm="world")
    net = bp.Sequential([bp.Dense(5, 3)], device=array_api_strict)
    with pytest.raises(bp.BackpropError, match="runs on NumPy .* or CuPy"):
        bp.fit(net, "cross_entropy", "sgd", X, y, comm=MPI.COMM_SELF)


def test_shard_refuses_what_is_not_a_npy_array(tmp_path):
    class Comm:
        def Get_rank(self):
            return 0

        def Get_size(self):
            return 2

    with pytest.raises(bp.BackpropError, match="does not exist"):
        distributed.shard(tmp_path / "missing.npy", Comm())
    np.savez(tmp_path / "a.npz", X=np.zeros((4, 2)))
    with pytest.raises(bp.BackpropError, match=".npz"):
        distributed.shard(tmp_path / "a.npz", Comm())
    np.save(tmp_path / "X.npy", np.arange(10.0).reshape(5, 2))
    part = distributed.shard(tmp_path / "X.npy", Comm())
    assert isinstance(part, np.memmap) and part.tolist() == [[0, 1], [2, 3], [4, 5]]


def _gpu_count():
    if importlib.util.find_spec("cupy") is None:
        return 0
    import cupy

    try:
        return cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError:
        return 0


@pytest.mark.gpu
@needs_mpi
@pytest.mark.skipif(_gpu_count() == 0, reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("ranks", [1, 2])
def test_gpu_ranks_train_exactly_as_one_process(tmp_path, ranks):
    """Each rank on its own GPU with NCCL; two ranks on one GPU (NCCL refuses that) sum
    through a CUDA-aware MPI or host memory, saying so once."""
    program = tmp_path / "gpu.py"
    program.write_text(
        "import sys; sys.path.insert(0, 'tests')\n"
        "import numpy as np, backprop as bp\n"
        "from backprop import distributed\n"
        "from backprop.device import to_host\n"
        "import mpi_scenarios as m\n"
        "comm = distributed.world()\n"
        "X, y, Xv, yv = m.data()\n"
        "rows = slice(*distributed.local_rows(len(X), comm))\n"
        "net = bp.Sequential([bp.Dense(5, 7, 'tanh'), bp.Dense(7, 3)], dtype='float64',\n"
        "                    seed=3, device=distributed.device(comm))\n"
        "h = bp.fit(net, 'cross_entropy', bp.SGD(0.3, momentum=0.9), X[rows], y[rows],\n"
        "           epochs=3, batch_size=8, seed=7, comm=comm)\n"
        f"np.save('{tmp_path}/theta%d.npy' % comm.Get_rank(), to_host(net.get_flat()))\n")
    status, _, err, _ = mpiexec(ranks, sys.executable, str(program), timeout=300)
    assert status == 0, err
    X, y, _, _ = scenarios.data()
    net = scenarios.net()
    bp.fit(net, "cross_entropy", bp.SGD(0.3, momentum=0.9), X, y, epochs=3, batch_size=8,
           seed=7)
    for r in range(ranks):
        np.testing.assert_allclose(np.load(tmp_path / f"theta{r}.npy"), net.get_flat(),
                                   rtol=1e-10)
    if ranks == 2 and _gpu_count() == 1:
        assert err.count("summed through host memory") + err.count("CUDA-aware") <= 1


@needs_mpi
def test_launch_detection_and_core_sharing(monkeypatch):
    """Started by a launcher among several processes, the command line trains data-parallel
    and gives each rank's BLAS its share of the cores, unless the user set a count."""
    import threadpoolctl

    for name in distributed.LAUNCHER_SIZE:
        monkeypatch.delenv(name, raising=False)
    assert distributed.launched() is None
    monkeypatch.setenv("PMI_SIZE", "2")           # a launcher's variable, but MPI has 1 process
    assert distributed.launched() is None
    from mpi4py import MPI

    limits = []
    monkeypatch.setattr(threadpoolctl, "threadpool_limits",
                        lambda n, user_api: limits.append((n, user_api)))
    for name in distributed.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    cores = len(os.sched_getaffinity(0))
    assert distributed.share_cores(MPI.COMM_SELF) == cores and limits == [(cores, "blas")]
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    assert distributed.share_cores(MPI.COMM_SELF) is None and len(limits) == 1
