"""The ``backprop`` command: ``train``, ``evaluate`` and ``predict``.

``backprop train`` with no arguments trains 784-200-10 (ReLU, softmax cross-entropy)
with mini-batch SGD (γ = 0.5, n_b = 100, as seed 001's Example 6.2) for 10 epochs on
the embedded digits, shows a progress bar, prints a summary and writes into a new run
folder (``--out``, default ``runs/<date>-<time>``): ``checkpoint.npz`` and the rows of
``history.csv`` after every epoch (``--resume DIR`` continues from them), then
``model.npz`` and ``learning_curves.png``. Every error is one line on stderr and a
non-zero exit status; results go to stdout, and a reader of stdout that goes away
(``backprop train | head -1``) does not stop the run.

Started by an MPI launcher with several processes (``mpiexec -n 4 backprop train …``,
``srun``), ``train`` trains data-parallel (`backprop.distributed`): each rank takes its
block of the rows, the result equals one process's, and only rank 0 prints and writes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from .. import datasets, distributed, optim
from .. import losses as _losses
from ..activations import ACTIVATIONS
from ..callbacks import Checkpoint, EarlyStopping
from ..device import DTYPES, to_host
from ..errors import BackpropError, DivergenceError
from ..files.csvfile import FLOAT32_MAX
from ..files.historylog import HistoryLog
from ..files.npz import read_npy
from ..io import load_checkpoint, read_model, save
from ..layers import Dense
from ..network import Sequential
from ..train import fit
from . import data as clidata
from . import runs
from .runs import LOSS_NAMES, OUTPUT, SCHEDULES, SETTINGS

TRAIN_HELP = (
    "With no arguments: a 784-200-10 network (ReLU, softmax cross-entropy) trained by "
    "mini-batch SGD (learning rate 0.5, batches of 100) for 10 epochs on the embedded "
    "digits. Writes checkpoint.npz and history.csv (after every epoch), model.npz and "
    "learning_curves.png into a new folder (--out, default runs/<date>-<time>).")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser():
    parser = _Parser(prog="backprop", description="Feedforward neural networks trained by "
                     "backpropagation: train, evaluate and predict from the command line.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a network (default: the embedded digits)",
                                description=TRAIN_HELP)
    add = train.add_argument
    add("--data", help="digits (embedded, default), mnist (downloaded/cached) or a CSV file "
                       "with a label column")
    add("--val-data", help="validation CSV file (needs --data FILE.csv)")
    add("--label-column", help="index or header name of the CSV label column (default: last)")
    add("--task", choices=clidata.TASKS,
        help="what a CSV's labels are: classes 0..K-1 or values (default: from --loss, else "
             "from the labels; whole numbers outside 0..19 must be said)")
    add("--data-dir", help="folder with the four MNIST files (default: $BACKPROP_DATA/mnist "
                           "or ~/.cache/backprop/mnist)")
    add("--hidden", type=int, nargs="*", action="extend", metavar="UNITS",
        help="hidden layer sizes, e.g. --hidden 200 100 (default 200); --hidden alone: "
             "no hidden layer (logistic regression)")
    add("--activation", help=f"hidden activation: {', '.join(sorted(ACTIVATIONS))} "
                             f"(default relu)")
    add("--loss", choices=LOSS_NAMES, help="loss; fixes the output activation (softmax, "
                                           "sigmoid, identity); default cross_entropy for "
                                           "classification, squared_error for regression")
    add("--epochs", type=int, help="epochs (default 10; with --resume the new total)")
    add("--batch-size", type=int, help="mini-batch size n_b (default 100)")
    add("--optimizer", choices=tuple(optim.OPTIMIZERS), help="default sgd")
    add("--lr", type=float, help="learning rate γ (default: sgd 0.5, nesterov 0.1, "
                                 "adam 0.001)")
    add("--momentum", type=float, help="momentum μ for sgd/nesterov (default 0 / 0.9)")
    add("--weight-decay", type=float, help="L2 weight decay λ (default 0)")
    add("--schedule", choices=SCHEDULES,
        help="learning-rate schedule: step = ×0.1 every third of the epochs, cosine = "
             "down to 0 over the run (default constant)")
    add("--early-stopping", type=int, metavar="PATIENCE",
        help="stop after PATIENCE epochs without a lower validation cost and restore the "
             "best weights")
    add("--device", help="cpu (default), cuda or cuda:N")
    add("--dtype", choices=DTYPES, help="default float32")
    add("--seed", type=int, help="seed of the initial weights and the shuffles (default 0)")
    add("--eval-every", type=int, help="validation every N iterations (default 10)")
    add("--out", type=Path, help="output folder, new or empty (default runs/<date>-<time>)")
    add("--resume", type=Path, metavar="DIR",
        help="continue (or finish) the run in DIR from its checkpoint.npz (same settings; "
             "--epochs sets the new total)")
    add("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="cost and misclassification of a model")
    evaluate.add_argument("model", type=Path, help="model.npz (or a run folder)")
    evaluate.add_argument("--data", help="digits, mnist or a CSV file (default: the run's "
                                         "data for a run folder, else digits)")
    evaluate.add_argument("--label-column", help="CSV label column (default: the run's, "
                                                 "else the last)")
    evaluate.add_argument("--data-dir")
    evaluate.add_argument("--loss", choices=LOSS_NAMES,
                          help="default: the loss recorded in the model file")
    evaluate.add_argument("--device", default="cpu")
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="print a model's predictions for a file")
    predict.add_argument("model", type=Path, help="model.npz (or a run folder)")
    predict.add_argument("file", type=Path,
                         help=".npy or .csv of features, one sample per row (uint8 .npy "
                              "pixels are scaled by 1/255)")
    predict.add_argument("--outputs", action="store_true",
                         help="print the network outputs instead of classes")
    predict.add_argument("--device", default="cpu")
    predict.set_defaults(run=_predict)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except BackpropError as exc:
        if getattr(exc, "all_ranks", False) and distributed.world().Get_rank() != 0:
            return 1                            # raised on every rank: rank 0 says it
        message = str(exc)
    except OSError as exc:      # a full disk, a folder that cannot be created…: name the file
        message = f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(exc)
    except MemoryError as exc:
        message = f"out of memory: {exc}"
    except KeyboardInterrupt:
        _note(f"backprop {args.command}: interrupted")
        return 130
    _note(f"backprop {args.command}: error: " + " ".join(message.split()))
    return 1


# -- output ---------------------------------------------------------------------------------
def _say(text=""):
    """Print results to stdout. If its reader has gone (``| head -1``), print nothing more
    and carry on: the run still writes its files."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _drop_stdout()


def _drop_stdout():
    """Send the rest of stdout (and what is still buffered) to the null device."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        sys.stdout = open(os.devnull, "w")
    finally:
        os.close(devnull)


def _note(text):
    print(text, file=sys.stderr, flush=True)


def _train(args):
    comm = distributed.launched()
    rank0 = comm is None or comm.Get_rank() == 0
    say = _say if rank0 else (lambda text="": None)
    threads = None if comm is None else distributed.share_cores(comm)
    with _together(comm):
        s, resumed = runs.settings(args, place=lambda device: _device(device, comm))
    train, Y, validation, n_out, why = _rank0_first(comm, lambda: _run_data(s, args, resumed))
    with _together(comm):
        task, loss_name = s["task"], s["loss"]
        n, batch = train.X.shape[0], min(s["batch_size"], train.X.shape[0])
        per_epoch = -(-n // batch)
        optimizer = runs.make_optimizer(s, per_epoch)
        stop = EarlyStopping(patience=s["early_stopping"]) if s["early_stopping"] else None
        if stop:
            runs.check_early_stopping(validation)
        if resumed:
            net, out = resumed.net, resumed.path.parent
            initial_epoch, history, log = runs.restore(resumed, s, n, optimizer, stop)
        else:
            sizes = [train.X.shape[1], *s["hidden"], n_out]
            acts = [s["activation"]] * len(s["hidden"]) + [OUTPUT[loss_name]]
            net = Sequential([Dense(a, b, h) for a, b, h in zip(sizes, sizes[1:], acts)],
                             device=_device(s["device"], comm), dtype=s["dtype"], seed=s["seed"])
            out = runs.new_folder(args.out) if rank0 else None     # rank 0 writes the files
            log = HistoryLog(out / "history.csv") if rank0 else None
            initial_epoch, history = 0, None
    loss = _losses.get(loss_name)
    checkpoint = Checkpoint(out / "checkpoint.npz", optimizer, config=s,
                            callbacks=[stop] if stop else [], history_log=log,
                            loss=loss_name, task=task) if rank0 else None
    (X, Y), validation = _mine(train.X, Y, validation, comm)
    net.summary(print_fn=say)
    ranks = "" if comm is None else f"; {comm.Get_size()} MPI ranks" + (
        f" × {threads} BLAS thread{'s' if threads > 1 else ''}" if threads else "")
    say(f"{loss.name} ({task}: {why}), {optimizer!r}, {Path(s['data']).name}: {n} train / "
        f"{_rows(validation, comm)} validation samples{ranks}"
        + (f"; resuming {resumed.path} after epoch {initial_epoch}" if resumed else ""))
    stopped = stop is not None and stop.stopped_epoch is not None
    if initial_epoch < s["epochs"] and not stopped:
        start = time.perf_counter()
        try:
            history = fit(net, loss, optimizer, X, Y, epochs=s["epochs"],
                          batch_size=batch, validation_data=validation,
                          eval_every=s["eval_every"], seed=s["seed"],
                          callbacks=[c for c in (stop, checkpoint) if c],
                          progress=rank0 and not args.no_progress, initial_epoch=initial_epoch,
                          history=history, comm=comm)
        except KeyboardInterrupt:
            if rank0:
                _interrupted(out, checkpoint.epoch or (initial_epoch or None), s["epochs"])
            return 130
        except DivergenceError as exc:
            kept = (f"{out or 'the run folder'} keeps the run up to epoch {exc.epoch - 1}"
                    if exc.epoch > 1 else "nothing was saved")
            error = BackpropError(
                f"training diverged in epoch {exc.epoch} (the cost or the weights became NaN or "
                f"infinite by iteration {exc.iteration}); {kept}: try a smaller --lr than "
                f"{optimizer.rate():g}, or scale the data")
            error.all_ranks = comm is not None      # every rank finds it at the same point
            raise error from None
        seconds = time.perf_counter() - start
        samples = (history.iterations - initial_epoch * per_epoch) // per_epoch * n
        timing = (f"time {seconds:.1f} s for {history.iterations} iterations in total "
                  f"({samples / max(seconds, 1e-9):,.0f} samples/s)")
    else:                       # its training had ended: write what a kill may have lost
        if stop is not None:
            stop.on_train_end(history, net)     # as fit ends: the best epoch's weights
        timing = (f"early stopping had ended the run at epoch {stop.stopped_epoch + 1}"
                  if stopped else f"the run had trained its {initial_epoch} epochs (train "
                                  f"longer with --epochs)") + "; its files are written again"
    scores = [(train.name, X, Y)] + ([("validation", *validation)] if validation else [])
    lines = [_score_line(name, *_scores(net, loss, Xs, Ys, comm), _rows((Xs,), comm))
             for name, Xs, Ys in scores]
    if not rank0:
        return 0
    log.append(history)         # cut what an epoch after the last checkpoint may have left
    for line in lines:
        _say(line)
    _say(timing)
    _write_results(net, out, history, s)
    return 0


def _device(device, comm):
    """``--device``; under MPI, ``cuda`` is each rank's own GPU."""
    return distributed.device(comm) if comm is not None and device == "cuda" else device


def _together(comm):
    """Under MPI, a block that fails on every rank if it fails on one (no rank waits)."""
    return nullcontext() if comm is None else distributed.agreement(comm)


def _rank0_first(comm, work):
    """``work()``; under MPI on rank 0 first (it may download MNIST into the shared cache),
    then on the other ranks, each turn failing on every rank if it fails on one."""
    if comm is None:
        return work()
    result = None
    for turn in (0, 1):
        with distributed.agreement(comm):
            if (comm.Get_rank() == 0) == (turn == 0):
                result = work()
    return result


def _mine(X, Y, validation, comm):
    """This rank's block of the rows (all of them in one process)."""
    if comm is None:
        return (X, Y), validation
    rows = lambda a: distributed.shard(a, comm)             # noqa: E731
    return (rows(X), rows(Y)), validation and (rows(validation[0]), rows(validation[1]))


def _rows(split, comm) -> int:
    """The number of rows of ``split``'s first array over all ranks (0 for None)."""
    n = 0 if split is None else split[0].shape[0]
    return n if comm is None else comm.allreduce(n)


def _run_data(s, args, resumed):
    """``(train split, its targets, validation pair or None, outputs, why the task)`` for
    the settings ``s``, which get the task, the loss, absolute CSV paths and fingerprints."""
    if not clidata.is_csv(s["data"]):
        stray = [o for o in ("val_data", "label_column") if getattr(args, o) is not None]
        if stray:
            raise BackpropError(f"--{stray[0].replace('_', '-')} needs --data FILE.csv; "
                                f"--data {s['data']} brings its own validation split")
    splits, files = clidata.load(s["data"], s["label_column"], s["val_data"], args.data_dir,
                                 resumed.stored.get("files") if resumed else None)
    task, why = clidata.task(s["task"], s["loss"], s["data"], splits)
    loss_name = clidata.loss_for(task, s["loss"])
    K = clidata.n_classes(splits) if task == "classification" else None
    n_out = clidata.n_outputs(task, loss_name, K)
    train, *val = splits
    Y = clidata.targets(train, task, loss_name, n_out)
    validation = (val[0].X, clidata.targets(val[0], task, loss_name, n_out)) if val else None
    s.update(task=task, loss=loss_name, files=files)
    for key in ("data", "val_data"):
        if clidata.is_csv(s[key]):
            s[key] = str(Path(s[key]).resolve())    # a resumed run finds it from anywhere
    return train, Y, validation, n_out, why


def _write_results(net, out, history, s):
    """model.npz (with the loss it was trained with) and the figure; say what was written."""
    save(net, out / "model.npz", loss=s["loss"], task=s["task"])
    written = [out / "model.npz", out / "checkpoint.npz", out / "history.csv"]
    try:
        from ..plot import learning_curves

        sizes = "-".join(str(k) for k in [net.n_inputs] + [layer.n_out for layer in net.layers])
        learning_curves(history, out / "learning_curves.png",
                        title=f"{sizes} on {Path(s['data']).name}")
        written.append(out / "learning_curves.png")
    except BackpropError as exc:
        _note(f"note: no figure: {exc}")
    except OSError as exc:                      # e.g. a full disk: name the file
        if exc.errno is not None and not exc.filename:
            exc.filename = str(out / "learning_curves.png")
        raise
    _say("wrote " + ", ".join(map(str, written)))


def _interrupted(out, epoch, epochs):
    if epoch:
        _note(f"backprop train: interrupted; {out / 'checkpoint.npz'} holds epoch {epoch} of "
              f"{epochs}: backprop train --resume {out} continues the run (evaluate and predict "
              f"use the checkpoint until then)")
    else:
        _note(f"backprop train: interrupted before the first epoch ended; {out} holds no model")


def _scores(net, loss, X, y, comm=None):
    """Data cost (no weight decay) and misclassification (None for regression) of (X, y);
    under MPI of the rows of every rank."""
    if comm is not None:
        return distributed.evaluate(net, loss, X, y, comm)
    with net.backend.context():
        Xd = net.inputs(X)
        T = net.targets(y, loss, Xd.shape[0])
        cost, error = net.evaluate(Xd, T, loss)
        return float(to_host(cost)), None if error is None else float(to_host(error))


def _score_line(name, cost, error, n):
    return (f"{name:<10} cost {cost:.4f}" + ("" if error is None else f"  error {error:.2%}")
            + f"  ({n} samples)")


def _print_scores(net, loss, name, X, y):
    _say(_score_line(name, *_scores(net, loss, X, y), X.shape[0]))


# -- evaluate, predict ----------------------------------------------------------------------
FROM_FILE = {"softmax_cross_entropy": "cross_entropy",
             "sigmoid_cross_entropy": "sigmoid_cross_entropy", "squared_error": "squared_error"}


def _model(path: Path, device):
    """``(net, outputs)`` from a model file or a run folder (its model.npz, or, for a run
    that was interrupted before writing it, its checkpoint.npz)."""
    ok, expected = SETTINGS["device"]
    if not ok(device):
        raise BackpropError(f"--device must be {expected}; got {device!r}")
    if not path.is_dir():
        return read_model(path, device)
    if (path / "model.npz").is_file() or not (path / "checkpoint.npz").is_file():
        return read_model(path / "model.npz", device)
    net, state = load_checkpoint(path / "checkpoint.npz", device)
    _note(f"note: {path} has no model.npz (its run was interrupted): using checkpoint.npz, the "
          f"weights after epoch {state['epoch']}")
    return net, state["outputs"]


def _meaning(net, outputs, loss=None, builtin=False):
    """``(loss, task)`` of a model's outputs: as recorded in its file; for older files, the
    loss whose link is the last activation and the task that loss implies."""
    loss = loss or FROM_FILE.get(outputs["loss"])
    if loss is None:
        link = net.layers[-1].activation.name
        loss = {v: k for k, v in OUTPUT.items()}.get(link, "squared_error")
    task = outputs["task"] if outputs["loss"] else None
    if task is None:
        one_hot = builtin and net.n_outputs > 1     # squared error on one-hot digit classes
        task = "regression" if loss == "squared_error" and not one_hot else "classification"
    return loss, task


def _evaluate(args):
    net, outputs = _model(args.model, args.device)
    run = None
    if args.data is None and args.model.is_dir() and (args.model / "checkpoint.npz").is_file():
        run = runs.stored_settings(args.model / "checkpoint.npz",
                               load_checkpoint(args.model / "checkpoint.npz")[1])
    data = args.data or (run["data"] if run else "digits")
    column = args.label_column or (run["label_column"] if run else "-1")
    splits, _ = clidata.load(data, column, run["val_data"] if run else None, args.data_dir,
                             run.get("files") if run else None)
    loss_name, task = _meaning(net, outputs, args.loss, data in clidata.BUILT_IN)
    loss = _losses.get(loss_name)
    for split in splits:
        _check_features(split.X, net, split.name)
        _print_scores(net, loss, split.name, split.X,
                      clidata.targets(split, task, loss_name, net.n_outputs))
    return 0


def _check_features(X, net, where):
    if X.shape[1] != net.n_inputs:
        raise BackpropError(f"{where} has {X.shape[1]} features per sample but the model takes "
                            f"{net.n_inputs}")


def _predict(args):
    net, outputs = _model(args.model, args.device)
    X = _features(args.file)
    _check_features(X, net, args.file)
    out = to_host(net.predict(X))
    loss, task = _meaning(net, outputs)
    link = net.layers[-1].activation.name
    if args.outputs or task == "regression":
        lines = (",".join(f"{v:.6g}" for v in row) for row in out)
    elif loss == "sigmoid_cross_entropy":           # each output its own yes/no
        threshold = 0.0 if link == "identity" else 0.5
        lines = (",".join("1" if v > threshold else "0" for v in row) for row in out)
    else:
        lines = (str(int(k)) for k in out.argmax(axis=1))
    try:
        sys.stdout.write("".join(line + "\n" for line in lines))
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_stdout()
    return 0


def _features(path: Path):
    """Features for predict: a ``.npy`` array (uint8 pixels scaled by 1/255; images
    flattened) or a ``.csv`` file, one sample per row, finite and within float32's range."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        X = read_npy(path)
        if X.dtype.kind not in "biuf":
            raise BackpropError(f"{path} holds {X.dtype} values; features must be real numbers")
        if X.ndim < 2:
            raise BackpropError(f"{path} holds an array of shape {X.shape}; give one sample per "
                                f"row (shape (n, features))")
        if X.shape[0] == 0:
            raise BackpropError(f"{path} holds no samples")
        X = X / np.float32(255) if X.dtype == np.uint8 else X.astype(
            np.float64 if X.dtype == np.float64 else np.float32)
        X = X.reshape(X.shape[0], -1)
    elif suffix == ".csv":
        X = datasets.read_csv(path)[0]
    else:
        raise BackpropError(f"FILE must be a .npy or .csv file; got {path}")
    bad = int(np.sum(~(np.abs(X) <= FLOAT32_MAX)))
    if bad:
        raise BackpropError(f"{path} holds {bad} values that are NaN, infinite or beyond "
                            f"float32's range (±{FLOAT32_MAX:.3g})")
    return X
