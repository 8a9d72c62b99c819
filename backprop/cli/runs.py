"""A run of ``backprop train``: its settings, its own folder, and its resumption.

Settings come from the defaults, the checkpoint of a resumed run and the options given,
in that order, and are checked in the words of the options (``--lr must be a number >
0``), whether they come from the command line or from a checkpoint that may have been
damaged or crafted. A new run gets a folder of its own, created atomically. A resumed
run is continued only if it can be continued exactly: its network, counters,
optimizer state and callback states must agree with its settings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .. import optim
from ..activations import ACTIVATIONS
from ..device import DTYPES
from ..errors import BackpropError, is_int
from ..files.historylog import HistoryLog
from ..io import load_checkpoint
from ..network import Sequential
from . import data as clidata

DEFAULTS = {
    "data": "digits", "val_data": None, "label_column": "-1", "task": None, "hidden": [200],
    "activation": "relu", "loss": None, "epochs": 10, "batch_size": 100,
    "lr": None, "optimizer": "sgd", "momentum": None, "weight_decay": 0.0,
    "schedule": "constant", "early_stopping": None, "device": "cpu", "dtype": "float32",
    "seed": 0, "eval_every": 10,
}
DEFAULT_LR = {"sgd": 0.5, "nesterov": 0.1, "adam": 0.001}
ARCHITECTURE = ("data", "val_data", "label_column", "task", "hidden", "activation", "loss",
                "dtype")
LOSS_NAMES = ("cross_entropy", "sigmoid_cross_entropy", "squared_error")
OUTPUT = {"cross_entropy": "softmax", "sigmoid_cross_entropy": "sigmoid",
          "squared_error": "identity"}
SCHEDULES = ("constant", "step", "cosine")
RUN_FILES = ("model.npz", "checkpoint.npz", "history.csv")


def _is_number(v, ok):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and ok(v)


SETTINGS = {   # what each setting must be, in the words of its option
    "data": (lambda v: isinstance(v, str) and v != "", "digits, mnist or a .csv file"),
    "val_data": (lambda v: v is None or isinstance(v, str) and v != "", "a .csv file"),
    "label_column": (lambda v: isinstance(v, str), "a column index or header name"),
    "task": (lambda v: v is None or v in clidata.TASKS, "classification or regression"),
    "hidden": (lambda v: isinstance(v, list) and all(is_int(n) and n >= 1 for n in v),
               "numbers of units >= 1"),
    "activation": (lambda v: isinstance(v, str) and v in ACTIVATIONS,
                   f"one of {', '.join(sorted(ACTIVATIONS))}"),
    "loss": (lambda v: v is None or v in LOSS_NAMES, f"one of {', '.join(LOSS_NAMES)}"),
    "epochs": (lambda v: is_int(v) and v >= 1, "at least 1"),
    "batch_size": (lambda v: is_int(v) and v >= 1, "at least 1"),
    "lr": (lambda v: v is None or _is_number(v, lambda x: x > 0), "a number > 0"),
    "optimizer": (lambda v: isinstance(v, str) and v in optim.OPTIMIZERS,
                  f"one of {', '.join(optim.OPTIMIZERS)}"),
    "momentum": (lambda v: v is None or _is_number(v, lambda x: 0 <= x < 1), "in [0, 1)"),
    "weight_decay": (lambda v: _is_number(v, lambda x: x >= 0), "a number >= 0"),
    "schedule": (lambda v: v in SCHEDULES, f"one of {', '.join(SCHEDULES)}"),
    "early_stopping": (lambda v: v is None or is_int(v) and v >= 1, "a number of epochs >= 1"),
    "device": (lambda v: isinstance(v, str) and re.fullmatch(r"cpu|cuda(:\d+)?", v),
               "cpu, cuda or cuda:N"),
    "dtype": (lambda v: v in DTYPES, "float32 or float64"),
    "seed": (lambda v: is_int(v) and v >= 0, "an int >= 0"),
    "eval_every": (lambda v: is_int(v) and v >= 1, "at least 1"),
}


@dataclass
class Resumed:
    """A run continued from its checkpoint: its path, network, state and stored settings."""

    path: Path
    net: Sequential
    state: dict
    stored: dict


def check_settings(s, prefix=""):
    """Raise unless every setting is what its option accepts; ``prefix`` says where from."""
    for name, (ok, expected) in SETTINGS.items():
        if not ok(s[name]):
            raise BackpropError(f"{prefix}--{name.replace('_', '-')} must be {expected}; got "
                                f"{s[name]!r}"[:300])
    if s["optimizer"] == "nesterov" and s["momentum"] == 0:
        raise BackpropError(f"{prefix}--optimizer nesterov needs --momentum > 0")


def settings(args, place=lambda device: device):
    """The run's settings: defaults ← checkpoint (with --resume) ← options given.
    ``place`` maps ``--device`` to where this process loads a resumed network."""
    given = {k: v for k, v in vars(args).items() if k in DEFAULTS and v is not None}
    if args.resume is None:
        s = {**DEFAULTS, **given}
        check_settings(s)
        return s, None
    path = args.resume / "checkpoint.npz" if args.resume.is_dir() else args.resume
    clash = [k for k in ARCHITECTURE if k in given] + (["out"] if args.out else [])
    if clash:
        raise BackpropError(
            f"--resume takes the data, network and folder from the checkpoint; drop "
            f"{', '.join('--' + k.replace('_', '-') for k in clash)}")
    net, state = load_checkpoint(path)
    stored = stored_settings(path, state)
    s = {**DEFAULTS, **stored, **given}
    check_settings(s)
    if s["device"] != "cpu":
        net, state = load_checkpoint(path, device=place(s["device"]))
    return s, Resumed(path, net, state, stored)


def stored_settings(path, state):
    """The settings a checkpoint records, checked as if given as options."""
    config = state["config"]
    if not isinstance(config, dict):
        raise BackpropError(f"{path} records no settings of backprop train")
    unknown = sorted(set(config) - set(DEFAULTS) - {"files"})
    if unknown:
        raise BackpropError(f"{path} has corrupt settings: unknown {unknown}"[:300])
    check_settings({**DEFAULTS, **config}, f"{path} has corrupt settings: ")
    files = config.get("files", {})
    if not (isinstance(files, dict) and set(files) <= {"data", "val_data"} and all(
            isinstance(v, list) and len(v) == 2 and is_int(v[0]) and isinstance(v[1], str)
            and re.fullmatch(r"[0-9a-f]{64}", v[1]) for v in files.values())):
        raise BackpropError(f"{path} has corrupt settings: files must be sizes and SHA-256")
    return config


def make_optimizer(s, iterations_per_epoch):
    """The optimizer the settings name, with its rate schedule over the run."""
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


def check_early_stopping(validation):
    """--early-stopping needs validation data (checked before work, in the command's words;
    `fit` itself validates at the end of every epoch for it, whatever --eval-every is)."""
    if validation is None:
        raise BackpropError("--early-stopping needs validation data: give --val-data FILE.csv")


def new_folder(out):
    """The run's own folder: ``--out`` (new or without a run in it), or a new
    ``runs/<date>-<time>[-k]`` created atomically, so that two runs never share one."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        held = [name for name in RUN_FILES if (out / name).exists()]
        if held:
            raise BackpropError(f"--out {out} already holds a run ({', '.join(held)}): continue "
                                f"it with --resume {out}, or give another --out")
        return out
    base = Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    base.parent.mkdir(parents=True, exist_ok=True)
    for k in range(1, 10_000):
        folder = base if k == 1 else base.with_name(f"{base.name}-{k}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise BackpropError(f"too many runs named {base}-*: give --out")


def restore(resumed, s, n, optimizer, stop):
    """``(initial_epoch, history, log)`` of a resumed run, after checking that its network,
    counters, optimizer and callback states agree with its settings (else it is refused)."""
    path, net, state, stored = resumed.path, resumed.net, resumed.state, resumed.stored
    loss_name = s["loss"]
    sizes = [net.n_inputs] + [layer.n_out for layer in net.layers]
    acts = [layer.activation.name for layer in net.layers]
    expected = [s["hidden"], [s["activation"]] * len(s["hidden"]) + [OUTPUT[loss_name]]]
    if [sizes[1:-1], acts] != expected or f"float{net.xp.finfo(net.dtype).bits}" != s["dtype"]:
        raise BackpropError(f"{path}: its network {'-'.join(map(str, sizes))} "
                            f"({', '.join(acts)}) does not match its settings")
    history, epoch = state["history"], state["epoch"]
    per_epoch = -(-n // min(stored.get("batch_size", DEFAULTS["batch_size"]), n))
    t = state["optimizer"][0]["t"]
    if history.iterations != epoch * per_epoch or t != history.iterations:
        raise BackpropError(f"{path}: its counters disagree: {epoch} epochs of {per_epoch} "
                            f"iterations, {history.iterations} in its history, optimizer step {t}")
    if epoch > s["epochs"]:
        raise BackpropError(f"{path} has trained {epoch} epochs already: --epochs must be at "
                            f"least {epoch}")
    restore_optimizer(path, optimizer, state["optimizer"], s)
    states = state["callbacks"]
    if len(states) != (1 if stored.get("early_stopping") else 0):
        raise BackpropError(f"{path}: its callback states do not match its settings")
    if stop is not None and states:
        try:
            stop.load_state_dict(states[0])
        except BackpropError as exc:
            raise BackpropError(f"{path}: {exc}") from None
    log = state["history_log"] or HistoryLog(path.parent / "history.csv")
    return epoch, history, log


def restore_optimizer(path, optimizer, state, s):
    """Load the optimizer's state, refusing one that this optimizer cannot continue exactly."""
    scalars, buffers = state
    if scalars["t"] == 0:
        needed = set()
    elif isinstance(optimizer, optim.Adam):
        needed = {"m", "v"}
    else:
        needed = {"velocity"} if optimizer.momentum else set()
    if set(buffers) != needed:
        momentum = "" if s["momentum"] is None else f" --momentum {s['momentum']}"
        raise BackpropError(
            f"{path}: its optimizer state ({', '.join(sorted(buffers)) or 'no buffers'}) is not "
            f"what --optimizer {s['optimizer']}{momentum} continues from "
            f"({', '.join(sorted(needed)) or 'no buffers'}): resume with the run's --optimizer "
            f"and --momentum")
    optimizer.load_state_dict(state)


