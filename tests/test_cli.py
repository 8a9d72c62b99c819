"""The backprop command line: train / evaluate / predict, checkpoints, one-line errors."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import backprop as bp
from backprop import cli, datasets
from backprop.device import to_host

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--hidden", "8", "--epochs", "1", "--no-progress"]


def run(*args):
    """``python -m backprop ARGS`` in a subprocess: (exit status, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "backprop", *args], capture_output=True,
                          text=True, env=env, timeout=300)
    return done.returncode, done.stdout, done.stderr


def weights(path):
    net = bp.load(path)
    return b"".join(to_host(p).tobytes() for layer in net.layers for p in (layer.W, layer.b))


def one_line_error(capsys, argv, status=1):
    with pytest.raises(SystemExit) as info:
        raise SystemExit(cli.main(argv))
    assert info.value.code == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err and "Traceback" not in err
    return err


def test_train_in_a_subprocess_writes_model_figure_and_history(tmp_path):
    status, out, err = run("train", *TINY, "--out", str(tmp_path / "run"))
    assert status == 0, err
    assert "784-8-10" in out and "validation cost" in out and "samples/s" in out
    for name in ("model.npz", "checkpoint.npz", "history.csv"):
        assert (tmp_path / "run" / name).is_file()
    assert bp.load(tmp_path / "run" / "model.npz").n_outputs == 10
    if "learning_curves.png" in out:
        assert (tmp_path / "run" / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_errors_in_a_subprocess_are_one_line_without_traceback(tmp_path):
    status, out, err = run("train", *TINY, "--device", "cuda:7", "--out", str(tmp_path))
    assert status == 1 and err.count("\n") == 1 and "cuda" in err and "Traceback" not in err
    status, _, err = run("train", "--optimizer", "rmsprop")
    assert status == 2 and err.count("\n") == 1 and "rmsprop" in err


def test_bad_option_values_are_one_line(capsys, tmp_path):
    assert "invalid choice" in one_line_error(capsys, ["train", "--loss", "hinge"], status=2)
    assert "invalid int" in one_line_error(capsys, ["train", "--epochs", "x"], status=2)
    assert "activation must be" in one_line_error(
        capsys, ["train", *TINY, "--activation", "swish", "--out", str(tmp_path)])
    assert "lr must be" in one_line_error(
        capsys, ["train", *TINY, "--lr", "-1", "--out", str(tmp_path)])
    assert "--data must be" in one_line_error(capsys, ["train", "--data", "foo"])
    assert "cannot read CSV" in one_line_error(
        capsys, ["train", "--data", str(tmp_path / "missing.csv")])
    assert "model file" in one_line_error(capsys, ["evaluate", str(tmp_path / "none.npz")])


def test_mnist_missing_offline_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_DATA", str(tmp_path))
    monkeypatch.setattr(datasets, "MIRRORS", ((tmp_path / "no-mirror").as_uri() + "/",))
    err = one_line_error(capsys, ["train", "--data", "mnist", *TINY])
    assert str(tmp_path / "mnist") in err


def test_resume_continues_exactly(tmp_path, capsys):
    common = ["train", "--hidden", "8", "--no-progress", "--optimizer", "nesterov",
              "--batch-size", "250", "--eval-every", "5"]
    assert cli.main([*common, "--epochs", "2", "--out", str(tmp_path / "full")]) == 0
    assert cli.main([*common, "--epochs", "1", "--out", str(tmp_path / "cut")]) == 0
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(tmp_path / "cut"), "--epochs", "2",
                     "--no-progress"]) == 0
    rate = re.search(r"\(([\d,]+) samples/s\)", capsys.readouterr().out).group(1)
    assert int(rate.replace(",", "")) > 0  # counts the resumed epoch's 5,000 samples
    assert weights(tmp_path / "full" / "model.npz") == weights(tmp_path / "cut" / "model.npz")
    capsys.readouterr()
    assert "drop --hidden, --out" in one_line_error(
        capsys, ["train", "--resume", str(tmp_path / "cut"), "--hidden", "4", "--out", "x"])
    finished = weights(tmp_path / "cut" / "model.npz")      # a finished run: written again
    assert cli.main(["train", "--resume", str(tmp_path / "cut"), "--no-progress"]) == 0
    assert "had trained its 2 epochs" in capsys.readouterr().out
    assert weights(tmp_path / "cut" / "model.npz") == finished
    assert "--epochs must be at least 2" in one_line_error(
        capsys, ["train", "--resume", str(tmp_path / "cut"), "--epochs", "1"])
    checkpoint = tmp_path / "cut" / "checkpoint.npz"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    assert "truncated or foreign" in one_line_error(
        capsys, ["train", "--resume", str(tmp_path / "cut"), "--epochs", "3"])


def test_evaluate_and_predict(tmp_path, capsys):
    assert cli.main(["train", *TINY, "--out", str(tmp_path)]) == 0
    summary = capsys.readouterr().out
    validation_line = next(line for line in summary.splitlines()
                           if line.startswith("validation"))
    assert cli.main(["evaluate", str(tmp_path)]) == 0
    assert validation_line in capsys.readouterr().out.splitlines()

    _, (Xv, yv) = bp.datasets.digits()
    net = bp.load(tmp_path / "model.npz")
    expected = np.argmax(to_host(net.predict(Xv[:6])), axis=1).tolist()
    np.save(tmp_path / "x.npy", Xv[:6])
    assert cli.main(["predict", str(tmp_path / "model.npz"), str(tmp_path / "x.npy")]) == 0
    assert [int(v) for v in capsys.readouterr().out.split()] == expected
    np.save(tmp_path / "u8.npy", np.round(Xv[:6] * 255).astype(np.uint8).reshape(6, 28, 28))
    assert cli.main(["predict", str(tmp_path), str(tmp_path / "u8.npy")]) == 0
    assert [int(v) for v in capsys.readouterr().out.split()] == expected
    np.savetxt(tmp_path / "x.csv", Xv[:6], delimiter=",")
    assert cli.main(["predict", str(tmp_path), str(tmp_path / "x.csv"), "--outputs"]) == 0
    rows = [[float(v) for v in line.split(",")] for line in capsys.readouterr().out.split()]
    np.testing.assert_allclose(rows, to_host(net.predict(Xv[:6])), rtol=1e-5, atol=1e-6)
    assert "must be a .npy or .csv" in one_line_error(
        capsys, ["predict", str(tmp_path), str(tmp_path / "history.txt")])


def test_train_on_csv_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for name, n in (("train.csv", 60), ("val.csv", 20)):
        x = rng.uniform(-1, 1, size=(n, 2))
        label = (x[:, 0] * x[:, 1] > 0).astype(int)
        rows = "\n".join(f"{a:.4f},{b:.4f},{c}" for (a, b), c in zip(x, label))
        (tmp_path / name).write_text("x1,x2,class\n" + rows + "\n")
    argv = ["train", "--data", str(tmp_path / "train.csv"), "--val-data",
            str(tmp_path / "val.csv"), "--label-column", "class", "--hidden", "6",
            "--activation", "tanh", "--epochs", "3", "--batch-size", "10", "--optimizer",
            "adam", "--lr", "0.01", "--schedule", "cosine", "--no-progress", "--out",
            str(tmp_path / "run")]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "2-6-2" in out and "60 train / 20 validation" in out
    assert cli.main(["evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "val.csv"),
                     "--label-column", "class"]) == 0
    assert "val.csv" in capsys.readouterr().out


def test_squared_error_and_early_stopping_on_digits(tmp_path, capsys):
    argv = ["train", "--hidden", "8", "--loss", "squared_error", "--epochs", "3", "--lr",
            "0.1", "--early-stopping", "1", "--eval-every", "50", "--no-progress", "--out",
            str(tmp_path)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "squared_error" in out and "error" not in out.split("validation")[1].split("\n")[0]
    assert bp.load(tmp_path / "model.npz").layers[-1].activation.name == "identity"


def test_train_without_matplotlib_still_succeeds(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert cli.main(["train", *TINY, "--out", str(tmp_path)]) == 0
    assert "backprop[plot]" in capsys.readouterr().err
    assert (tmp_path / "model.npz").is_file() and not (tmp_path / "learning_curves.png").exists()


def test_logistic_regression_without_hidden_layer(tmp_path, capsys):
    assert cli.main(["train", "--hidden", "--epochs", "1", "--no-progress", "--out",
                     str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Sequential 784-10:" in out
    assert "dense_1 (Dense) (None, 10) softmax 7,850".split() in [l.split() for l in out.splitlines()]
    assert len(bp.load(tmp_path / "model.npz").layers) == 1
