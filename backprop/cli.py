"""The ``backprop`` command: ``train``, ``evaluate`` and ``predict``.

``backprop train`` with no arguments trains 784-200-10 (ReLU, softmax cross-entropy)
with mini-batch SGD (γ = 0.5, n_b = 100, as seed 001's Example 6.2) for 10 epochs on
the embedded digits, shows a progress bar, prints a summary and writes into ``--out``
(default ``runs/<date>-<time>``): ``model.npz``, ``checkpoint.npz`` (after every
epoch; ``--resume DIR`` continues from it), ``history.csv`` and ``learning_curves.png``.
Every error is one line on stderr and a non-zero exit status.

Started by an MPI launcher with several processes (``mpiexec -n 4 backprop train …``,
``srun``), ``train`` trains data-parallel (`backprop.distributed`): each rank takes its
block of the rows, the result equals one process's, and only rank 0 prints and writes.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path

import numpy as np

from . import datasets, distributed, optim
from . import losses as _losses
from .activations import ACTIVATIONS
from .callbacks import Checkpoint, EarlyStopping
from .device import to_host
from .errors import BackpropError
from .io import load, load_checkpoint, save
from .layers import Dense
from .network import Sequential
from .train import fit

DEFAULTS = {
    "data": "digits", "val_data": None, "label_column": "-1", "hidden": [200],
    "activation": "relu", "loss": "cross_entropy", "epochs": 10, "batch_size": 100,
    "lr": None, "optimizer": "sgd", "momentum": None, "weight_decay": 0.0,
    "schedule": "constant", "early_stopping": None, "device": "cpu", "dtype": "float32",
    "seed": 0, "eval_every": 10,
}
DEFAULT_LR = {"sgd": 0.5, "nesterov": 0.1, "adam": 0.001}
ARCHITECTURE = ("data", "val_data", "label_column", "hidden", "activation", "loss", "dtype")
LOSS_NAMES = ("cross_entropy", "sigmoid_cross_entropy", "squared_error")
OUTPUT = {"cross_entropy": "softmax", "sigmoid_cross_entropy": "sigmoid",
          "squared_error": "identity"}


TRAIN_HELP = (
    "With no arguments: a 784-200-10 network (ReLU, softmax cross-entropy) trained by "
    "mini-batch SGD (learning rate 0.5, batches of 100) for 10 epochs on the embedded "
    "digits. Writes model.npz, checkpoint.npz (after every epoch), history.csv and "
    "learning_curves.png into --out (default runs/<date>-<time>).")


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
    add("--val-data", help="validation CSV file when --data is a CSV file")
    add("--label-column", help="index or header name of the CSV label column (default: last)")
    add("--data-dir", help="folder with the four MNIST files (default: $BACKPROP_DATA/mnist "
                           "or ~/.cache/backprop/mnist)")
    add("--hidden", type=int, nargs="*", action="extend", metavar="UNITS",
        help="hidden layer sizes, e.g. --hidden 200 100 (default 200); --hidden alone: "
             "no hidden layer (logistic regression)")
    add("--activation", help=f"hidden activation: {', '.join(sorted(ACTIVATIONS))} "
                             f"(default relu)")
    add("--loss", choices=LOSS_NAMES, help="loss; fixes the output activation (softmax, "
                                           "sigmoid, identity); default cross_entropy")
    add("--epochs", type=int, help="epochs (default 10; with --resume the new total)")
    add("--batch-size", type=int, help="mini-batch size n_b (default 100)")
    add("--optimizer", choices=tuple(optim.OPTIMIZERS), help="default sgd")
    add("--lr", type=float, help="learning rate γ (default: sgd 0.5, nesterov 0.1, "
                                 "adam 0.001)")
    add("--momentum", type=float, help="momentum μ for sgd/nesterov (default 0 / 0.9)")
    add("--weight-decay", type=float, help="L2 weight decay λ (default 0)")
    add("--schedule", choices=("constant", "step", "cosine"),
        help="learning-rate schedule: step = ×0.1 every third of the epochs, cosine = "
             "down to 0 over the run (default constant)")
    add("--early-stopping", type=int, metavar="PATIENCE",
        help="stop after PATIENCE epochs without a lower validation cost and restore the "
             "best weights")
    add("--device", help="cpu (default), cuda or cuda:N")
    add("--dtype", choices=("float32", "float64"), help="default float32")
    add("--seed", type=int, help="seed of the initial weights and the shuffles (default 0)")
    add("--eval-every", type=int, help="validation every N iterations (default 10)")
    add("--out", type=Path, help="output folder (default runs/<date>-<time>)")
    add("--resume", type=Path, metavar="DIR",
        help="continue the run in DIR from its checkpoint.npz (same settings; --epochs "
             "sets the new total)")
    add("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="cost and misclassification of a model")
    evaluate.add_argument("model", type=Path, help="model.npz (or a run folder)")
    evaluate.add_argument("--data", default="digits", help="digits, mnist or a CSV file")
    evaluate.add_argument("--label-column", default="-1")
    evaluate.add_argument("--data-dir")
    evaluate.add_argument("--loss", choices=LOSS_NAMES,
                          help="default: from the output activation")
    evaluate.add_argument("--device", default="cpu")
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="print a model's predictions for a file")
    predict.add_argument("model", type=Path, help="model.npz (or a run folder)")
    predict.add_argument("file", type=Path,
                         help=".npy or .csv of features, one sample per row (uint8 .npy "
                              "pixels are scaled by 1/255)")
    predict.add_argument("--outputs", action="store_true",
                         help="print the network outputs instead of class labels")
    predict.add_argument("--device", default="cpu")
    predict.set_defaults(run=_predict)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (BackpropError, OSError) as exc:
        if not getattr(exc, "all_ranks", False) or distributed.world().Get_rank() == 0:
            print(f"backprop {args.command}: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"backprop {args.command}: interrupted", file=sys.stderr)
        return 130
    return 1


# -- data -------------------------------------------------------------------------------
def _label_column(value):
    try:
        return int(value)
    except ValueError:
        return value


def _load(data, label_column="-1", data_dir=None, val_data=None):
    """``(X, y), (X_val, y_val) or None`` for a --data value."""
    if data == "digits":
        return datasets.digits()
    if data == "mnist":
        return datasets.mnist(data_dir)
    if data.lower().endswith(".csv"):
        column = _label_column(label_column)
        train = datasets.load_csv(data, column)
        return train, (datasets.load_csv(val_data, column) if val_data else None)
    raise BackpropError(f"--data must be digits, mnist or a .csv file; got {data!r}")


def _targets(y, loss, data, n_classes):
    """Targets as the loss wants them: one-hot rows for squared error on the digit sets."""
    if loss == "squared_error" and data in ("digits", "mnist"):
        return np.eye(n_classes, dtype=np.float32)[y]
    return y


def _n_outputs(loss, data, ys):
    if loss == "cross_entropy" or (loss == "squared_error" and data in ("digits", "mnist")):
        if not all(np.issubdtype(y.dtype, np.integer) and y.ndim == 1 for y in ys):
            raise BackpropError(f"--loss {loss} on {data} needs integer class labels")
        return int(max(int(y.max()) for y in ys)) + 1
    return 1 if ys[0].ndim == 1 else ys[0].shape[1]


# -- train ------------------------------------------------------------------------------
def _settings(args, comm):
    """The run's settings: defaults ← checkpoint (with --resume) ← options given."""
    given = {k: v for k, v in vars(args).items() if k in DEFAULTS and v is not None}
    if args.resume is None:
        return {**DEFAULTS, **given}, None
    path = args.resume / "checkpoint.npz" if args.resume.is_dir() else args.resume
    clash = [k for k in ARCHITECTURE if k in given] + (["out"] if args.out else [])
    if clash:
        raise BackpropError(
            f"--resume takes the data, network and folder from the checkpoint; drop "
            f"{', '.join('--' + k.replace('_', '-') for k in clash)}")
    net, state = load_checkpoint(path)
    settings = {**DEFAULTS, **(state["config"] or {}), **given}
    if settings["device"] != "cpu":
        net, state = load_checkpoint(path, device=_device(settings["device"], comm))
    return settings, (path, net, state)


def _device(device, comm):
    """``--device``; under MPI, ``cuda`` is each rank's own GPU."""
    return distributed.device(comm) if comm is not None and device == "cuda" else device


def _together(comm):
    """Under MPI, a block that fails on every rank if it fails on one (no rank waits)."""
    return nullcontext() if comm is None else distributed.agreement(comm)


def _load_data(s, data_dir, comm):
    """The data of ``--data``; under MPI rank 0 first (it may download MNIST), then the
    others, each keeping its block of the rows."""
    data = None
    for turn in (0, 1):
        with _together(comm):
            if (comm is None or comm.Get_rank() == 0) == (turn == 0):
                data = _load(s["data"], s["label_column"], data_dir, s["val_data"])
        if comm is None:
            return data, data
    (X, y), val = data
    mine = ((distributed.shard(X, comm), distributed.shard(y, comm)),
            val and (distributed.shard(val[0], comm), distributed.shard(val[1], comm)))
    return data, mine


def _optimizer(s, iterations_per_epoch):
    name = s["optimizer"]
    lr = s["lr"] if s["lr"] is not None else DEFAULT_LR[name]
    total = s["epochs"] * iterations_per_epoch
    if s["schedule"] == "step":
        lr = optim.StepDecay(lr, every=max(1, -(-s["epochs"] // 3)) * iterations_per_epoch)
    elif s["schedule"] == "cosine":
        lr = optim.Cosine(lr, steps=total)
    kwargs = {"lr": lr, "weight_decay": s["weight_decay"]}
    if name != "adam" and s["momentum"] is not None:
        kwargs["momentum"] = s["momentum"]
    return optim.get(name, **kwargs)


def _train(args):
    comm = distributed.launched()
    rank0 = comm is None or comm.Get_rank() == 0
    threads = None if comm is None else distributed.share_cores(comm)
    with _together(comm):
        s, resumed = _settings(args, comm)
        for name in ("epochs", "batch_size", "eval_every"):
            if s[name] < 1:
                raise BackpropError(f"--{name.replace('_', '-')} must be at least 1; "
                                    f"got {s[name]}")
    ((X, y), val), ((X_mine, y_mine), val_mine) = _load_data(s, args.data_dir, comm)
    with _together(comm):
        loss_name = s["loss"]
        n_out = _n_outputs(loss_name, s["data"], [y] + ([val[1]] if val else []))
        Y = _targets(y_mine, loss_name, s["data"], n_out)
        validation = (val_mine[0], _targets(val_mine[1], loss_name, s["data"], n_out)) \
            if val else None
        loss = _losses.get(loss_name)
        if resumed:
            path, net, state = resumed
            out = path.parent
        else:
            sizes = [X.shape[1], *s["hidden"], n_out]
            acts = [s["activation"]] * len(s["hidden"]) + [OUTPUT[loss_name]]
            net = Sequential([Dense(a, b, h) for a, b, h in zip(sizes, sizes[1:], acts)],
                             device=_device(s["device"], comm), dtype=s["dtype"],
                             seed=s["seed"])
            out = args.out or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
        if net.n_inputs != X.shape[1]:
            raise BackpropError(f"the data have {X.shape[1]} features but the network "
                                f"{net.n_inputs} inputs")
        batch = min(s["batch_size"], X.shape[0])
        optimizer = _optimizer(s, -(-X.shape[0] // batch))
        initial_epoch, history = 0, None
        if resumed:
            optimizer.load_state_dict(state["optimizer"])
            initial_epoch, history = state["epoch"], state["history"]
            if initial_epoch >= s["epochs"]:
                raise BackpropError(f"the checkpoint has done {initial_epoch} epochs already: "
                                    f"give a larger total with --epochs")
        callbacks = []
        if rank0:
            out.mkdir(parents=True, exist_ok=True)
            callbacks.append(Checkpoint(out / "checkpoint.npz", optimizer, config=s))
        if s["early_stopping"] is not None:
            callbacks.insert(0, EarlyStopping(patience=s["early_stopping"]))
    sizes = "-".join(str(n) for n in [net.n_inputs] + [layer.n_out for layer in net.layers])
    activations = ", ".join(layer.activation.name for layer in net.layers)
    ranks = "" if comm is None else f", {comm.Get_size()} MPI ranks" + (
        f" × {threads} BLAS thread{'s' if threads > 1 else ''}" if threads else "")
    _say(rank0, f"backprop train: {sizes} ({activations}), "
         f"{loss.name}, {optimizer!r}, {s['data']}: {X.shape[0]} train / "
         f"{val[0].shape[0] if val else 0} validation samples, "
         f"{net.backend.name} on {net.device}, {s['dtype']}{ranks}")
    done_before = history.iterations if history else 0
    start = time.perf_counter()
    history = fit(net, loss, optimizer, X_mine, Y, epochs=s["epochs"], batch_size=batch,
                  validation_data=validation, eval_every=s["eval_every"], seed=s["seed"],
                  callbacks=callbacks, progress=rank0 and not args.no_progress,
                  initial_epoch=initial_epoch, history=history, comm=comm)
    seconds = time.perf_counter() - start
    epochs_run = (history.iterations - done_before) // -(-X.shape[0] // batch)
    samples = epochs_run * X.shape[0]
    scores = [("train", X_mine, Y, X.shape[0])]
    if validation:
        scores.append(("validation", *validation, val[0].shape[0]))
    for name, Xs, Ys, n in scores:
        _say(rank0, _score_line(name, *_scores(net, loss, Xs, Ys, comm), n))
    if not rank0:
        return 0
    print(f"time {seconds:.1f} s for {history.iterations} iterations in total "
          f"({samples / seconds:,.0f} samples/s)")
    save(net, out / "model.npz")
    history.to_csv(out / "history.csv")
    written = [out / "model.npz", out / "checkpoint.npz", out / "history.csv"]
    try:
        from .plot import learning_curves

        learning_curves(history, out / "learning_curves.png",
                        title=f"{sizes} on {Path(s['data']).name}")
        written.append(out / "learning_curves.png")
    except BackpropError as exc:
        print(f"note: no figure: {exc}", file=sys.stderr)
    print("wrote " + ", ".join(map(str, written)))
    return 0


def _say(rank0, line):
    if rank0:
        print(line)


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
    print(_score_line(name, *_scores(net, loss, X, y), X.shape[0]))


# -- evaluate, predict ------------------------------------------------------------------
def _model(path: Path, device):
    return load(path / "model.npz" if path.is_dir() else path, device=device)


def _evaluate(args):
    net = _model(args.model, args.device)
    link = net.layers[-1].activation.name
    loss_name = args.loss or {v: k for k, v in OUTPUT.items()}.get(link, "squared_error")
    loss = _losses.get(loss_name)
    (X, y), val = _load(args.data, args.label_column, args.data_dir)
    parts = [("train", X, y)] + ([("validation", *val)] if val else [])
    if args.data.lower().endswith(".csv"):
        parts = [(Path(args.data).name, X, y)]
    for name, Xs, ys in parts:
        _print_scores(net, loss, name, Xs, _targets(ys, loss_name, args.data, net.n_outputs))
    return 0


def _predict(args):
    net = _model(args.model, args.device)
    suffix = args.file.suffix.lower()
    if suffix == ".npy":
        try:
            X = np.load(args.file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise BackpropError(f"cannot read {args.file} as a .npy array: {exc}") from None
        if X.dtype == np.uint8:
            X = X / np.float32(255)
        X = X.reshape(X.shape[0], -1) if X.ndim > 2 else X
    elif suffix == ".csv":
        X = datasets.read_csv(args.file)[0]
    else:
        raise BackpropError(f"FILE must be a .npy or .csv file; got {args.file}")
    if np.issubdtype(X.dtype, np.integer) or X.dtype == np.bool_:
        X = X.astype(np.float32)
    out = to_host(net.predict(X))
    if args.outputs or net.layers[-1].activation.name == "identity":
        lines = (",".join(f"{v:.6g}" for v in row) for row in out)
    elif out.shape[1] == 1:
        lines = (str(int(v > 0.5)) for v in out[:, 0])
    else:
        lines = (str(int(k)) for k in out.argmax(axis=1))
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0
