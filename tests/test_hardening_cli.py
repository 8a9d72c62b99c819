"""Issue 12 for the command line: nothing lost, resume exact or refused, one line on
stderr always, and the command line right for every model it can train or load."""

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import backprop as bp
from backprop import callbacks, cli
from backprop.cli import runs
from backprop.device import to_host
from tests.hostile import meta_of, npy, npy_claiming, with_meta

ROOT = Path(__file__).resolve().parents[1]
API_WORDS = re.compile(r"\b(n_in|n_out|validation_data|eval_every|patience|weight_decay|"
                       r"batch_size|label_column|lr=|device=|theta|y labels)\b")


def write_csv(path, X, y, header=True, fmt="%.6f"):
    names = ",".join([f"x{i}" for i in range(X.shape[1])] + ["label"])
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt=fmt,
               header=names if header else "", comments="")
    return path


@pytest.fixture
def data(tmp_path):
    """Two-class CSV training and validation files (XOR-like quadrants, 3 features)."""
    rng = np.random.default_rng(0)
    files = {}
    for name, n in (("train", 60), ("val", 30)):
        X = rng.uniform(-1, 1, size=(n, 3))
        files[name] = write_csv(tmp_path / f"{name}.csv", X, (X[:, 0] * X[:, 1] > 0).astype(int))
    return files


def csv_args(data, *more):
    return ["train", "--data", str(data["train"]), "--val-data", str(data["val"]), "--hidden",
            "6", "--activation", "tanh", "--batch-size", "20", "--eval-every", "3",
            "--no-progress", *more]


def weights(path):
    net = bp.load(path)
    return b"".join(to_host(p).tobytes() for layer in net.layers for p in (layer.W, layer.b))


def one_line_error(capsys, argv, status=1):
    assert cli.main(argv) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err and "Traceback" not in err, err
    assert not API_WORDS.search(err), err
    return err


def interrupt_after(monkeypatch, epoch):
    """Ctrl-C right after the checkpoint of ``epoch`` (counted from 1) is written."""
    original = callbacks.Checkpoint.on_epoch_end

    def on_epoch_end(self, e, history, net):
        original(self, e, history, net)
        if e + 1 == epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.Checkpoint, "on_epoch_end", on_epoch_end)


# == Nothing lost ==============================================================================
def test_runs_started_in_the_same_second_get_their_own_folders(data, tmp_path, monkeypatch,
                                                              capsys):
    class Frozen:
        @staticmethod
        def now():
            from datetime import datetime
            return datetime(2026, 1, 2, 3, 4, 5)

    monkeypatch.setattr(runs, "datetime", Frozen)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "20260102-030405-3").mkdir(parents=True)      # another process's
    for _ in range(3):
        assert cli.main(csv_args(data, "--epochs", "1")) == 0
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert folders == ["20260102-030405", "20260102-030405-2", "20260102-030405-3",
                    "20260102-030405-4"]
    assert all((tmp_path / "runs" / f / "model.npz").is_file() for f in folders
               if not f.endswith("-3"))
    capsys.readouterr()
    assert "already holds a run (model.npz, checkpoint.npz, history.csv): continue it with " \
           "--resume" in one_line_error(capsys, csv_args(data, "--out", "runs/20260102-030405"))


def test_an_interrupted_run_gives_its_model_and_resumes_exactly(data, tmp_path, monkeypatch,
                                                               capsys):
    full, cut = tmp_path / "full", tmp_path / "cut"
    common = csv_args(data, "--epochs", "4", "--optimizer", "adam", "--lr", "0.05")
    assert cli.main([*common, "--out", str(full)]) == 0
    with monkeypatch.context() as m:
        interrupt_after(m, 2)
        capsys.readouterr()
        assert cli.main([*common, "--out", str(cut)]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"checkpoint.npz holds epoch 2 of 4: backprop train " \
                                    f"--resume {cut} continues" in err
    assert not (cut / "model.npz").exists()
    # meanwhile, evaluate and predict use the checkpoint
    X = np.loadtxt(data["val"], delimiter=",", skiprows=1)[:, :3]
    np.save(tmp_path / "x.npy", X)
    assert cli.main(["predict", str(cut), str(tmp_path / "x.npy")]) == 0
    out, err = capsys.readouterr()
    net, _ = bp.load_checkpoint(cut / "checkpoint.npz")
    assert out.split() == [str(k) for k in to_host(net.predict(X)).argmax(axis=1)]
    assert "has no model.npz (its run was interrupted): using checkpoint.npz, the weights " \
           "after epoch 2" in err
    assert cli.main(["evaluate", str(cut)]) == 0
    assert "train.csv" in capsys.readouterr().out
    # and the run continues to exactly the uninterrupted result
    assert cli.main(["train", "--resume", str(cut), "--no-progress"]) == 0
    assert weights(cut / "model.npz") == weights(full / "model.npz")
    assert (cut / "history.csv").read_bytes() == (full / "history.csv").read_bytes()


def test_killed_before_model_npz_the_resume_finishes_the_run(data, tmp_path, capsys):
    full = tmp_path / "full"
    argv = csv_args(data, "--epochs", "30", "--early-stopping", "2", "--eval-every", "3",
                    "--lr", "4", "--out", str(full))
    assert cli.main(argv) == 0
    assert len(bp.load_checkpoint(full / "checkpoint.npz")[1]["history"].cost) < 30 * 3
    cut = tmp_path / "cut"
    cut.mkdir()
    for name in ("checkpoint.npz", "history.csv"):                # kill -9 before model.npz
        (cut / name).write_bytes((full / name).read_bytes())
    with open(cut / "history.csv", "a") as f:
        f.write("999,1.0,0.5,,\n")                                # and a torn epoch
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(cut), "--no-progress"]) == 0
    assert "early stopping had ended the run at epoch" in capsys.readouterr().out
    assert weights(cut / "model.npz") == weights(full / "model.npz")   # the best epoch's
    assert (cut / "history.csv").read_bytes() == (full / "history.csv").read_bytes()


def test_a_full_disk_is_one_line_naming_the_file(data, tmp_path, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", full)
    err = one_line_error(capsys, csv_args(data, "--epochs", "1", "--out", str(tmp_path / "r")))
    assert f"{tmp_path / 'r' / 'checkpoint.npz'}: No space left on device" in err
    assert not [p for p in (tmp_path / "r").iterdir() if p.suffix == ".tmp"]
    (tmp_path / "file").write_text("")
    err = one_line_error(capsys, csv_args(data, "--out", str(tmp_path / "file" / "r")))
    assert str(tmp_path / "file") in err


def test_piping_into_head_still_writes_the_model(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-m", "backprop", "train", "--hidden", "4",
                              "--epochs", "2", "--no-progress", "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = child.stdout.readline()
    child.stdout.close()                                          # as `| head -1` does
    err = child.stderr.read().decode()
    assert child.wait(timeout=300) == 0, err
    assert first.startswith(b"Sequential 784-4-10") and err == ""
    assert bp.load(out / "model.npz").n_outputs == 10


# == Resume is exact, or refused =================================================================
def test_a_resumed_csv_run_finds_its_data_and_refuses_changed_data(data, tmp_path,
                                                                   monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--data", "train.csv", "--val-data", "val.csv", "--hidden", "4",
                     "--epochs", "1", "--no-progress", "--out", "run"]) == 0
    config = meta_of(tmp_path / "run" / "checkpoint.npz")["extra"]["config"]
    assert config["data"] == str(data["train"]) and config["files"]["data"][0] == \
        data["train"].stat().st_size
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert cli.main(["train", "--resume", "../run", "--epochs", "2", "--no-progress"]) == 0
    assert cli.main(["evaluate", "../run"]) == 0                  # the run's own data
    out = capsys.readouterr().out
    assert "train.csv " in out and "validation val.csv" in out
    with open(data["val"], "a") as f:
        f.write("0.5,0.5,0.5,1\n")
    err = one_line_error(capsys, ["train", "--resume", "../run", "--epochs", "3"])
    assert f"{data['val']} has changed since the run was trained on it" in err
    assert "has changed" in one_line_error(capsys, ["evaluate", "../run"])
    data["val"].unlink()
    assert f"cannot read CSV file {data['val']}" in one_line_error(
        capsys, ["train", "--resume", "../run", "--epochs", "3"])


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(lr="fast"), "corrupt settings: --lr must be a number > 0; got 'fast'"),
    (lambda c: c.update(hidden=[-1]), "corrupt settings: --hidden must be numbers of units"),
    (lambda c: c.update(epochs=2.5), "corrupt settings: --epochs must be at least 1"),
    (lambda c: c.update(device="gpu"), "corrupt settings: --device must be cpu, cuda"),
    (lambda c: c.update(activation=["relu"]), "corrupt settings: --activation must be one of"),
    (lambda c: c.update(shell="rm -rf /"), r"corrupt settings: unknown \['shell'\]"),
    (lambda c: c.update(files={"data": [1, "00"]}), "files must be sizes and SHA-256"),
    (lambda c: c.update(hidden=[7]), r"its network 3-6-2 \(tanh, softmax\) does not match"),
    (lambda c: c.update(batch_size=7), "its counters disagree: 2 epochs of 9 iterations, 6 in"),
    (lambda c: c.update(early_stopping=3), "callback states do not match its settings"),
    (lambda c: c.update(momentum=0.5), r"its optimizer state \(no buffers\) is not what "
                                       r"--optimizer sgd --momentum 0.5 continues from"),
])
def test_a_damaged_checkpoint_is_refused_in_one_line(data, tmp_path, capsys, change, message):
    run = tmp_path / "run"
    assert cli.main(csv_args(data, "--epochs", "2", "--out", str(run))) == 0
    meta = meta_of(run / "checkpoint.npz")
    change(meta["extra"]["config"])
    with_meta(run / "checkpoint.npz", meta)
    capsys.readouterr()
    err = one_line_error(capsys, ["train", "--resume", str(run), "--epochs", "3"])
    assert str(run / "checkpoint.npz") in err and re.search(message, err), err


def test_resume_refuses_another_optimizer_and_counters_that_disagree(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(csv_args(data, "--epochs", "2", "--optimizer", "adam", "--out",
                             str(run))) == 0
    capsys.readouterr()
    assert "optimizer state (m, v) is not what --optimizer sgd continues from" in one_line_error(
        capsys, ["train", "--resume", str(run), "--epochs", "3", "--optimizer", "sgd"])
    meta = meta_of(run / "checkpoint.npz")
    meta["extra"]["optimizer"]["t"] = 5
    with_meta(run / "checkpoint.npz", meta)
    assert "optimizer step 5" in one_line_error(capsys, ["train", "--resume", str(run),
                                                         "--epochs", "3"])


# == One line on stderr, always ==================================================================
@pytest.mark.parametrize("text, message", [
    ("a,b,c\n1,2,0\n\n3,4\n", r"line 4 \(lines and columns counted from 1\): 2 columns, but "
                              r"line 2 \(the first data line\) has 3"),
    ("a,b,c\n1,2,0\n# note\n3,x,1\n", r"line 4, column 2 \(lines and columns counted from 1\): "
                                      r"'x' is not a number"),
    ("1,2,0\n3,,1\n", "line 2, column 2 .*: the cell is empty"),
    ("1,2,0\n3,nan,1\n", "line 2, column 2 .*: nan is not a finite number"),
    ("1,2,0\n3,1e39,1\n", "line 2, column 2 .*: 1e\\+39 is not a finite number within float32"),
    (b"a,b,c\n1,2,0\ncaf\xe9,3,1\n", "is not UTF-8 text: line 3 holds the byte 0xe9"),
    ("a,b,c\n1,2,0\n".encode("utf-16-le"), "NUL characters .UTF-16 without a byte-order mark"),
    ("", "is empty"),
    ("a,b,c\n", "has no data rows"),
])
def test_csv_errors_count_from_one_and_give_no_numpy_advice(tmp_path, capsys, text, message):
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    err = one_line_error(capsys, ["train", "--data", str(path), "--no-progress"])
    assert re.search(message, err) and "usecols" not in err, err


def test_data_files_must_be_regular_files(tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    for name in ("pipe.csv", "zero.csv"):
        assert "is not a regular file" in one_line_error(
            capsys, ["train", "--data", str(tmp_path / name), "--no-progress"])


def test_bom_encoded_csv_files_are_read(tmp_path, data, capsys):
    text = data["train"].read_text()
    for codec in ("utf-8-sig", "utf-16"):
        path = tmp_path / f"{codec}.csv"
        path.write_bytes(text.encode(codec))
        assert cli.main(["train", "--data", str(path), "--hidden", "3", "--epochs", "1",
                         "--no-progress", "--out", str(tmp_path / codec)]) == 0
    assert "3-3-2" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--hidden", "0"], "--hidden must be numbers of units >= 1; got [0]"),
    (["--epochs", "0"], "--epochs must be at least 1; got 0"),
    (["--batch-size", "-3"], "--batch-size must be at least 1"),
    (["--eval-every", "0"], "--eval-every must be at least 1"),
    (["--lr", "nan"], "--lr must be a number > 0; got nan"),
    (["--lr", "inf"], "--lr must be a number > 0; got inf"),
    (["--momentum", "1"], "--momentum must be in [0, 1); got 1.0"),
    (["--weight-decay", "-1"], "--weight-decay must be a number >= 0"),
    (["--seed", "-1"], "--seed must be an int >= 0; got -1"),
    (["--early-stopping", "0"], "--early-stopping must be a number of epochs >= 1; got 0"),
    (["--device", "gpu"], "--device must be cpu, cuda or cuda:N; got 'gpu'"),
    (["--activation", "swish"], "--activation must be one of arctan, identity"),
    (["--optimizer", "nesterov", "--momentum", "0"], "--optimizer nesterov needs --momentum > 0"),
    (["--val-data", "v.csv"], "--val-data needs --data FILE.csv; --data digits brings its own"),
    (["--label-column", "2"], "--label-column needs --data FILE.csv"),
    (["--task", "regression"], "--task regression needs a CSV file: digits holds classes"),
])
def test_option_errors_name_the_options(capsys, argv, message):
    err = one_line_error(capsys, ["train", *argv, "--no-progress"])
    assert message in err, err


# == The command line for every model =============================================================
def api_model(tmp_path, last, outputs, trained_with, **save):
    """A network trained with the API (its last layer ``last``), saved with ``save``."""
    loss = trained_with
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 3)).astype(np.float32)
    net = bp.Sequential([bp.Dense(3, 5, "tanh"), bp.Dense(5, outputs, last)], seed=2)
    y = (rng.integers(0, outputs, 30) if loss == "cross_entropy" else
         (rng.uniform(size=(30, outputs)) > 0.5).astype(np.float32))
    bp.fit(net, loss, bp.SGD(0.5), X, y, epochs=20, batch_size=10)
    bp.save(net, tmp_path / "m.npz", **save)
    np.save(tmp_path / "x.npy", X)
    write_csv(tmp_path / "d.csv", X, y if y.ndim == 1 else y[:, 0], header=False)
    return net, X, y


def predicted(capsys, tmp_path, *more):
    assert cli.main(["predict", str(tmp_path / "m.npz"), str(tmp_path / "x.npy"), *more]) == 0
    return capsys.readouterr().out.split()


def test_logits_model_trained_with_cross_entropy(tmp_path, capsys):
    net, X, y = api_model(tmp_path, None, 4, "cross_entropy", loss="cross_entropy")
    assert meta_of(tmp_path / "m.npz")["loss"] == "softmax_cross_entropy"
    logits = to_host(net.predict(X))
    assert predicted(capsys, tmp_path) == [str(k) for k in logits.argmax(axis=1)]
    assert len(predicted(capsys, tmp_path, "--outputs")[0].split(",")) == 4
    assert cli.main(["evaluate", str(tmp_path / "m.npz"), "--data", str(tmp_path / "d.csv")]) == 0
    cost = float(re.search(r"cost (\S+)", capsys.readouterr().out).group(1))
    J = float(to_host(bp.SoftmaxCrossEntropy().cost(net.ops, net.predict(X), bp.losses.one_hot(
        net.xp, net.backend.asarray(y, name="y"), 4, net.dtype))))
    assert cost == pytest.approx(J, abs=1e-4)


@pytest.mark.parametrize("last, threshold", [("sigmoid", 0.5), (None, 0.0)])
def test_multi_label_sigmoid_model_prints_a_0_1_row(tmp_path, capsys, last, threshold):
    net, X, _ = api_model(tmp_path, last, 3, "sigmoid_cross_entropy",
                          loss="sigmoid_cross_entropy")
    rows = [",".join("1" if v > threshold else "0" for v in row)
            for row in to_host(net.predict(X))]
    assert predicted(capsys, tmp_path) == rows and len(set(rows)) > 1


def test_older_files_without_a_loss_still_load(tmp_path, capsys):
    net, X, _ = api_model(tmp_path, "softmax", 3, "cross_entropy")
    assert "loss" not in meta_of(tmp_path / "m.npz")
    assert predicted(capsys, tmp_path) == [str(k) for k in
                                           to_host(net.predict(X)).argmax(axis=1)]
    net, X, _ = api_model(tmp_path, None, 3, "cross_entropy")      # identity: values
    assert len(predicted(capsys, tmp_path)[0].split(",")) == 3


def test_squared_error_on_classes_predicts_classes(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(csv_args(data, "--loss", "squared_error", "--task", "classification",
                             "--epochs", "2", "--out", str(run))) == 0
    assert "3-6-2" in capsys.readouterr().out                    # one-hot targets, 2 outputs
    assert (meta_of(run / "model.npz")["loss"], meta_of(run / "model.npz")["task"]) == \
        ("squared_error", "classification")
    X = np.loadtxt(data["val"], delimiter=",", skiprows=1)[:, :3]
    np.savetxt(tmp_path / "x.csv", X, delimiter=",")
    capsys.readouterr()
    assert cli.main(["predict", str(run), str(tmp_path / "x.csv")]) == 0
    expected = to_host(bp.load(run / "model.npz").predict(X)).argmax(axis=1)
    assert capsys.readouterr().out.split() == [str(k) for k in expected]


def test_a_loss_that_cannot_be_recorded(tmp_path):
    class Hinge(bp.Loss):
        name = "hinge"

    with pytest.raises(bp.BackpropError, match="loss 'hinge' cannot be recorded"):
        bp.save(bp.Sequential([bp.Dense(2, 2)]), tmp_path / "m.npz", loss=Hinge())
    with pytest.raises(bp.BackpropError, match="task must be one of"):
        bp.save(bp.Sequential([bp.Dense(2, 2)]), tmp_path / "m.npz", loss="mse", task="x")
    assert list(tmp_path.iterdir()) == []


def test_regression_csv_with_whole_number_targets(tmp_path, capsys):
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, size=(80, 3))
    y = np.round(150 + 100 * X[:, 0] + 50 * X[:, 1]).astype(int)     # 25..346-like targets
    path = write_csv(tmp_path / "diabetes.csv", X, y, fmt="%g")
    err = one_line_error(capsys, ["train", "--data", str(path), "--no-progress"])
    assert re.search(r"whole numbers from \d+ to \d+ \(\d+ distinct values\), which may be "
                     r"classes or values: say which with --task classification or --task "
                     r"regression", err)
    assert "more classes than the 80 samples" in one_line_error(
        capsys, ["train", "--data", str(path), "--task", "classification"])
    run = tmp_path / "run"
    assert cli.main(["train", "--data", str(path), "--task", "regression", "--hidden", "4",
                     "--lr", "0.001", "--epochs", "2", "--no-progress", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "3-4-1" in out and "squared_error (regression: --task)" in out
    assert meta_of(run / "model.npz")["task"] == "regression"
    np.save(tmp_path / "x.npy", X)
    assert cli.main(["predict", str(run), str(tmp_path / "x.npy")]) == 0
    values = [float(v) for v in capsys.readouterr().out.split()]
    np.testing.assert_allclose(values, to_host(bp.load(run / "model.npz").predict(X))[:, 0],
                               rtol=1e-5)


@pytest.mark.parametrize("labels, message", [
    ([-1, 0], "class labels must be whole numbers 0..K−1; got -1 .number the classes from 0"),
    ([0, 1e20], "class labels must be whole numbers 0..K−1; got 1e\\+20"),
    ([0, 0.5], "class labels must be whole numbers 0..K−1; got 0.5 .for values to predict"),
    ([0, 10 ** 9], "the class labels go up to 1000000000: more classes than the 40 samples"),
    ([0, 0], "the labels hold only class 0"),
])
def test_labels_get_a_message_about_the_labels(tmp_path, capsys, labels, message):
    X = np.random.default_rng(0).normal(size=(40, 2))
    path = write_csv(tmp_path / "d.csv", X, np.resize(labels, 40), fmt="%.17g")
    with pytest.MonkeyPatch.context() as m:
        m.setattr(np, "eye", None)                  # no one-hot matrix is ever built
        err = one_line_error(capsys, ["train", "--data", str(path), "--task", "classification",
                                      "--no-progress"])
    assert re.search(message, err), err


def test_labels_that_read_as_classes_or_values(tmp_path, capsys):
    X = np.random.default_rng(0).normal(size=(40, 2))
    for labels, shown in (([0.25, 0.5], "squared_error (regression: the labels are not all "
                                        "whole numbers)"),
                          ([0, 2, 1], "softmax_cross_entropy (classification: whole-number "
                                      "labels 0..2)")):
        path = write_csv(tmp_path / "d.csv", X, np.resize(labels, 40), fmt="%g")
        assert cli.main(["train", "--data", str(path), "--hidden", "3", "--epochs", "1",
                         "--no-progress", "--out", str(tmp_path / str(labels))]) == 0
        assert shown in capsys.readouterr().out


def test_early_stopping_on_a_small_csv_speaks_in_options(data, capsys):
    err = one_line_error(capsys, ["train", "--data", str(data["train"]), "--early-stopping",
                                  "2"])
    assert "--early-stopping needs validation data: give --val-data FILE.csv" in err


def test_early_stopping_with_the_defaults_on_a_small_csv(data, tmp_path):
    """One iteration per epoch, --eval-every 10 by default: fit still validates at every
    epoch's end for early stopping, and the run stops with its best weights."""
    assert cli.main(["train", "--data", str(data["train"]), "--val-data", str(data["val"]),
                     "--early-stopping", "2", "--no-progress", "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "model.npz").exists()


def test_train_starts_with_the_summary(data, tmp_path, capsys):
    assert cli.main(csv_args(data, "--epochs", "1", "--out", str(tmp_path / "r"))) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Sequential 3-6-2: input (None, 3), numpy on cpu, float32"
    assert lines[4].split() == ["dense_1", "(Dense)", "(None,", "6)", "tanh", "24"]
    assert lines[5].split() == ["dense_2", "(Dense)", "(None,", "2)", "softmax", "14"]
    assert lines[7] == "Total params: 38 (152 B)"
    assert lines[8].startswith("softmax_cross_entropy (classification: whole-number labels "
                               "0..1), SGD(lr=0.5") and "train.csv: 60 train / 30 validation" \
        in lines[8]


@pytest.mark.parametrize("content, message", [
    (npy_claiming((10 ** 8, 10 ** 8), "<f8", bytes(64)), "declares shape .* but holds 64 bytes"),
    (npy(np.array([[object()]] * 2, dtype=object)), "dtype object"),
    (npy(np.ones(3)), r"holds an array of shape \(3,\); give one sample per row"),
    (npy(np.ones((2, 3), complex)), "holds complex128 values; features must be real numbers"),
    (npy(np.array([[1.0, np.nan, 2.0]])), "holds 1 values that are NaN, infinite or beyond"),
    (npy(np.array([[1.0, 1e300, 2.0]])), "beyond float32's range"),
    (npy(np.ones((2, 4))), "has 4 features per sample but the model takes 3"),
    (npy(np.ones((0, 3))), "holds no samples"),
])
def test_predict_reads_its_input_file_as_data(tmp_path, capsys, content, message):
    api_model(tmp_path, "softmax", 3, "cross_entropy", loss="cross_entropy")
    (tmp_path / "x.npy").write_bytes(content)
    err = one_line_error(capsys, ["predict", str(tmp_path / "m.npz"), str(tmp_path / "x.npy")])
    assert re.search(message, err) and str(tmp_path / "x.npy") in err, err


def test_predict_into_a_closed_pipe_is_quiet(tmp_path):
    api_model(tmp_path, "softmax", 3, "cross_entropy", loss="cross_entropy")
    np.save(tmp_path / "x.npy", np.ones((200_000, 3)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-m", "backprop", "predict", str(tmp_path / "m.npz"),
                              str(tmp_path / "x.npy")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
    assert child.stdout.readline().strip().isdigit()
    child.stdout.close()
    assert child.wait(timeout=120) == 0 and child.stderr.read() == b""


def test_evaluate_a_model_on_labels_it_cannot_output(tmp_path, capsys):
    api_model(tmp_path, "softmax", 3, "cross_entropy", loss="cross_entropy")
    X = np.ones((4, 3))
    write_csv(tmp_path / "e.csv", X, [0, 1, 5, 2], fmt="%g")
    err = one_line_error(capsys, ["evaluate", str(tmp_path / "m.npz"), "--data",
                                  str(tmp_path / "e.csv")])
    assert "e.csv: the labels go up to 5 but the model has 3 classes (0..2)" in err
    assert "the model takes 3" in one_line_error(capsys, ["evaluate", str(tmp_path / "m.npz")])


def test_json_in_run_files_is_plain(data, tmp_path):
    cli.main(csv_args(data, "--epochs", "1", "--out", str(tmp_path / "r")))
    meta = meta_of(tmp_path / "r" / "model.npz")
    assert (meta["loss"], meta["task"], meta["extra"]) == ("softmax_cross_entropy",
                                                           "classification", None)
    json.dumps(meta_of(tmp_path / "r" / "checkpoint.npz"), allow_nan=False)
