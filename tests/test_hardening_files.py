"""Issue 12 for files (library side): nothing lost, resume exact or refused, and model or
checkpoint files from anywhere read as data — one BackpropError naming the file, before
any allocation the file does not justify. The hostile files are crafted by hand
(tests/hostile.py), grouped as in the issue."""

import errno
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

import backprop as bp
from backprop.files import atomic, npz
from backprop.files.historylog import HistoryLog
from backprop.device import to_host
from tests.hostile import (central_records, members, meta_of, npy, npy_claiming, patch,
                           peak_memory, tiny_net, with_members, with_meta, write_zip)

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(7)
X = RNG.normal(size=(40, 4)).astype(np.float32)
Y = (X[:, 0] * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
Xv = RNG.normal(size=(30, 4)).astype(np.float32)
Yv = (Xv[:, 0] * Xv[:, 1] > 0).astype(np.int64)


def weights(net):
    return b"".join(to_host(p).tobytes() for layer in net.layers for p in (layer.W, layer.b))


def refused(path, message, load=bp.load, limit=8 << 20):
    """Loading ``path`` raises one BackpropError naming it and matching ``message``, and
    allocates less than ``limit`` bytes on the way."""
    with peak_memory() as peak:
        with pytest.raises(bp.BackpropError) as info:
            load(path)
    text = str(info.value)
    assert str(path) in text and "\n" not in text
    assert peak[0] < limit, f"{peak[0]:,} bytes allocated"
    assert re.search(message, text), text
    return text


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.npz"
    bp.save(tiny_net(), path, loss="cross_entropy")
    return path


# == Nothing lost ============================================================================
def temp_name(target, host=atomic.HOST, pid=None, token="0123abcd"):
    return f".{target}.{host}.{os.getpid() if pid is None else pid}.{token}.tmp"


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_save_removes_only_stale_temporaries_of_its_own_target(tmp_path, model):
    old = time.time() - atomic.STALE_SECONDS - 60
    files = {
        temp_name("m.npz", pid=dead_pid()): False,             # writer gone: removed
        temp_name("m.npz", host="elsewhere", pid=dead_pid()): True,   # may be alive there
        temp_name("m.npz", host="elsewhere", token="0123abce"): "old",  # …unless stale
        temp_name("m.npz", pid=os.getppid()): True,             # live writer: kept
        temp_name("m.npz"): True,                               # this process: kept
        temp_name("other.npz", pid=dead_pid()): True,           # another target
        ".m.npz.tmp": True, "m.npz.1.0123abcd.tmp": True,       # not our pattern
        temp_name("m.npz", pid=dead_pid(), token="ZZZZZZZZ"): True,
    }
    for name, keep in files.items():
        (tmp_path / name).write_bytes(b"partial")
        if keep == "old":
            os.utime(tmp_path / name, (old, old))
    link = tmp_path / temp_name("m.npz", pid=dead_pid(), token="0123abcf")
    link.symlink_to(tmp_path / "m.npz")
    bp.save(tiny_net(seed=4), model)
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"m.npz", link.name} | {name for name, keep in files.items() if keep is True}
    assert weights(bp.load(model)) == weights(tiny_net(seed=4))


def test_a_save_killed_mid_write_leaves_the_old_file_and_its_temporary_goes_later(model):
    before = model.read_bytes()
    code = ("import os, signal, sys; from backprop.files import atomic\n"
            "def write(f):\n"
            "    f.write(b'x' * 4096); f.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
            "atomic.write(sys.argv[1], write)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, str(model)], env=env)
    assert done.returncode == -signal.SIGKILL
    temps = [p for p in model.parent.iterdir() if p.name.endswith(".tmp")]
    assert len(temps) == 1 and temps[0].stat().st_size == 4096
    assert model.read_bytes() == before
    bp.save(tiny_net(), model)
    assert [p.name for p in model.parent.iterdir()] == ["m.npz"]


def test_a_concurrent_writers_temporary_is_left_alone(model):
    code = ("import sys; from backprop.files import atomic\n"
            "def write(f):\n    f.write(b'y'); f.flush(); print('writing', flush=True); "
            "sys.stdin.readline()\n"
            "atomic.write(sys.argv[1], write)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", code, str(model)], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "writing\n"
        bp.save(tiny_net(seed=5), model)                    # must not delete the child's file
        assert len([p for p in model.parent.iterdir() if p.name.endswith(".tmp")]) == 1
    finally:
        child.communicate("go\n", timeout=60)
    assert child.returncode == 0 and model.read_bytes() == b"y"     # its rename succeeded


def test_a_full_disk_names_the_file_and_leaves_no_temporary(model, monkeypatch):
    before = model.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", full)
    with pytest.raises(OSError) as info:
        bp.save(tiny_net(), model)
    assert info.value.filename == str(model) and "No space left" in str(info.value)
    assert model.read_bytes() == before and [p.name for p in model.parent.iterdir()] == ["m.npz"]


class SizeRecorder:
    """Records the checkpoint's and the history file's sizes after every epoch."""

    def __init__(self, checkpoint):
        self.checkpoint, self.sizes = checkpoint, []

    def on_epoch_end(self, epoch, history, net):
        self.sizes.append((self.checkpoint.path.stat().st_size,
                           self.checkpoint.log.path.stat().st_size, history.iterations))


def test_checkpoint_cost_does_not_grow_with_the_run(tmp_path):
    net, opt = tiny_net(), bp.SGD(0.05, momentum=0.5)
    checkpoint = bp.Checkpoint(tmp_path / "c.npz", opt)
    recorder = SizeRecorder(checkpoint)
    bp.fit(net, "cross_entropy", opt, X, Y, epochs=40, batch_size=20, validation_data=(Xv, Yv),
           eval_every=2, callbacks=[checkpoint, recorder])
    checkpoints = [c for c, _, _ in recorder.sizes]
    assert max(checkpoints) - min(checkpoints) <= 64      # the counters' digits (4 bytes each)
    logs = [h for _, h, _ in recorder.sizes]
    growth = np.diff(logs)
    assert logs[-1] - logs[0] > 2000 and growth.min() > 0
    assert growth.max() < 2 * growth.min()                    # each epoch appends its own rows
    assert meta_of(tmp_path / "c.npz")["extra"]["history"] == {"log": {
        "file": "c.history.csv", "rows": 80, "bytes": logs[-1],
        "crc32": meta_of(tmp_path / "c.npz")["extra"]["history"]["log"]["crc32"]}}


def test_history_csv_reads_back_bit_identical(tmp_path):
    history = bp.fit(tiny_net(), "cross_entropy", bp.SGD(0.1), X, Y, epochs=3, batch_size=7,
                     validation_data=(Xv, Yv), eval_every=4)
    history.cost[0] = 0.1 + 0.2                                 # a float that repr must keep
    history.to_csv(tmp_path / "h.csv")
    data = (tmp_path / "h.csv").read_bytes()
    fields, _ = HistoryLog.resume(tmp_path / "h.csv", history.iterations, len(data),
                                  zlib.crc32(data))
    assert bp.History(**fields).as_dict() == history.as_dict()


class Cut:
    def __init__(self, at):
        self.at = at

    def on_epoch_end(self, epoch, history, net):
        return epoch == self.at


def run(path, epochs, cut=None, stop=True, resume=False):
    """A run with EarlyStopping and a Checkpoint at ``path``; ``cut``: stop after that epoch;
    ``resume``: continue from the checkpoint."""
    kw = dict(epochs=epochs, batch_size=10, validation_data=(Xv, Yv), eval_every=4, seed=2)
    early = bp.EarlyStopping(patience=2) if stop else None
    opt = bp.Adam(0.2)
    if resume:
        net, state = bp.load_checkpoint(path)
        opt.load_state_dict(state["optimizer"])
        if early:
            early.load_state_dict(state["callbacks"][0])
        kw.update(initial_epoch=state["epoch"], history=state["history"])
        log = state["history_log"]
    else:
        net, log = tiny_net(), None
    listed = [early] if early else []
    checkpoint = bp.Checkpoint(path, opt, callbacks=listed, history_log=log)
    history = bp.fit(net, "cross_entropy", opt, X, Y, callbacks=listed + [checkpoint] + (
        [Cut(cut)] if cut is not None else []), **kw)
    return net, history, early


def test_resume_with_early_stopping_equals_the_uninterrupted_run(tmp_path):
    full, history, early = run(tmp_path / "full.npz", 40)
    assert early.stopped_epoch is not None and early.best_epoch < early.stopped_epoch
    for cut in (0, early.best_epoch, early.stopped_epoch - 1):
        path = tmp_path / f"cut{cut}.npz"
        run(path, 40, cut=cut)
        net, resumed, early2 = run(path, 40, resume=True)
        assert weights(net) == weights(full) and resumed.as_dict() == history.as_dict()
        assert (early2.best, early2.best_epoch, early2.stopped_epoch) == \
            (early.best, early.best_epoch, early.stopped_epoch)
        assert path.with_suffix(".history.csv").read_bytes() == \
            (tmp_path / "full.history.csv").read_bytes()


def test_rows_of_an_epoch_after_the_last_checkpoint_are_dropped(tmp_path):
    full, history, _ = run(tmp_path / "full.npz", 6, stop=False)
    path = tmp_path / "c.npz"
    run(path, 6, cut=2, stop=False)
    with open(path.with_suffix(".history.csv"), "a") as f:     # killed between the two writes
        f.write("13,0.5,0.25,,\n14,0.5,0.25,,\n")
    net, resumed, _ = run(path, 6, resume=True, stop=False)
    assert weights(net) == weights(full)
    assert path.with_suffix(".history.csv").read_bytes() == \
        (tmp_path / "full.history.csv").read_bytes()


def test_a_changed_or_missing_history_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    run(path, 6, cut=1, stop=False)
    log = path.with_suffix(".history.csv")
    text = log.read_text()
    log.write_text(text.replace(",", ";", 3))
    refused(path, "history .*c.history.csv does not match its checkpoint .changed",
            bp.load_checkpoint)
    log.write_text(text[:-10])
    refused(path, "shorter than", bp.load_checkpoint)
    log.unlink()
    refused(path, "cannot read the history", bp.load_checkpoint)


def test_a_history_that_is_a_link_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    run(path, 6, cut=1, stop=False)
    log = path.with_suffix(".history.csv")
    victim = tmp_path / "victim.txt"
    victim.write_bytes(log.read_bytes())        # same bytes: the CRC alone would not tell
    log.unlink()
    log.symlink_to(victim)
    refused(path, "the history .* is not a regular file", bp.load_checkpoint)


def test_api_checkpoint_with_a_history_object_stores_arrays(tmp_path):
    net, opt = tiny_net(), bp.SGD(0.1, momentum=0.9)
    history = bp.fit(net, "cross_entropy", opt, X, Y, epochs=2, batch_size=10,
                     validation_data=(Xv, Yv), eval_every=3)
    bp.save_checkpoint(tmp_path / "c.npz", net, opt, history, epoch=2)
    _, state = bp.load_checkpoint(tmp_path / "c.npz")
    assert state["history"].as_dict() == history.as_dict() and state["history_log"] is None
    assert "extra/history/cost.npy" in members(tmp_path / "c.npz")


def test_a_checkpoint_of_the_previous_format_still_loads(tmp_path):
    """Before issue 12 the history was JSON lists and the buffers were found by name."""
    net, opt = tiny_net(), bp.SGD(0.1, momentum=0.9)
    history = bp.fit(net, "cross_entropy", opt, X, Y, epochs=2, batch_size=10,
                     validation_data=(Xv, Yv), eval_every=3)
    velocity = {f"optimizer/velocity/{i}": v for i, v in enumerate(opt.velocity)}
    bp.save(net, tmp_path / "old.npz", arrays=velocity, extra={
        "epoch": 2, "optimizer": {"t": 8}, "history": history.as_dict(), "config": {"a": 1}})
    back, state = bp.load_checkpoint(tmp_path / "old.npz")
    assert state["history"].as_dict() == history.as_dict() and state["epoch"] == 2
    assert state["config"] == {"a": 1} and state["callbacks"] == []
    assert [to_host(v).tobytes() for v in state["optimizer"][1]["velocity"]] == \
        [to_host(v).tobytes() for v in opt.velocity]


def test_early_stopping_state_is_checked_when_restored():
    stop = bp.EarlyStopping()
    good = ({"best": 0.5, "best_epoch": 2, "wait": 1, "stopped_epoch": None},
            {"best_theta": np.zeros(3)})
    stop.load_state_dict(good)
    assert (stop.best, stop.best_epoch, stop.wait) == (0.5, 2, 1)
    for scalars, arrays, message in [
        ({**good[0], "best": "0.5"}, good[1], "best must be a finite number"),
        ({**good[0], "best": True}, good[1], "best must be a finite number"),
        ({**good[0], "wait": -1}, good[1], "wait must be an int >= 0"),
        ({**good[0], "wait": None}, good[1], "wait must be an int >= 0"),
        ({**good[0], "best_epoch": 1.5}, good[1], "best_epoch must be an int"),
        ({**good[0], "best_epoch": None}, good[1], "without its epoch"),
        ({**good[0], "extra": 1}, good[1], "must hold best"),
        (good[0], {}, "not its weights"),
        (good[0], {"other": np.zeros(3)}, "must hold best"),
    ]:
        with pytest.raises(bp.BackpropError, match=message):
            bp.EarlyStopping().load_state_dict((scalars, arrays))


# == Files from anywhere: the JSON record ======================================================
@pytest.mark.parametrize("meta, message", [
    ("{not json", "corrupt architecture record: not JSON"),
    ("[1, 2]", "a JSON object is expected; got list"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"version": 1, "dtype": "float32", "layers": [[' + "9" * 5000 + ', 5, "relu"]]}',
     "not JSON"),
    ('{"version": 1, "dtype": "float32", "layers": [[NaN, 5, "relu"]]}', "NaN is not a JSON"),
    ('{"version": 1, "dtype": "float32", "layers": [[Infinity, 5, "relu"]]}', "not a JSON"),
    ({"version": 1, "dtype": "float32", "layers": [[4.0, 5, "relu"], [5, 3, "softmax"]]},
     r"layer 1 must be \[n_in, n_out, activation\]"),
    ({"version": 1, "dtype": "float32", "layers": [[True, 5, "relu"], [5, 3, "softmax"]]},
     "layer 1 must be"),
    ({"version": 1, "dtype": "float32", "layers": [[4, 0, "relu"], [0, 3, "softmax"]]},
     "Dense n_out must be a positive"),
    ({"version": 1, "dtype": "float32", "layers": [[4, -5, "relu"], [5, 3, "softmax"]]},
     "positive number of units"),
    ({"version": 1, "dtype": "float32", "layers": [[4, 5], [5, 3, "softmax"]]}, "layer 1 must"),
    ({"version": 1, "dtype": "float32", "layers": [[4, 5, "relu"], "5-3"]}, "layer 2 must"),
    ({"version": 1, "dtype": "float32", "layers": [[4, 5, "rleu"], [5, 3, "softmax"]]},
     "unknown activation 'rleu'"),
    ({"version": 1, "dtype": "float32", "layers": [[4, 5, {"a": 1}], [5, 3, "softmax"]]},
     "layer 1 must"),
    ({"version": 1, "dtype": "float32", "layers": [[4, 5, "relu"], [6, 3, "softmax"]]},
     "layer 1 has 5 outputs but layer 2 6 inputs"),
    ({"version": 1, "dtype": "float32", "layers": []}, "non-empty list"),
    ({"version": 1, "dtype": "float32", "layers": {"1": [4, 5]}}, "non-empty list"),
    ({"version": 1, "dtype": "float32", "layers": [[1, 1, "identity"]] * 10_000},
     "10000 layers declared but the file holds 6 arrays"),
    ({"version": 2, "dtype": "float32", "layers": [[4, 5, "relu"], [5, 3, "softmax"]]},
     "format version 2; this backprop reads 1"),
    ({"version": "1", "dtype": "float32", "layers": [[4, 5, "relu"], [5, 3, "softmax"]]},
     "format version '1'"),
    ({"version": 1, "dtype": "float16", "layers": [[4, 5, "relu"], [5, 3, "softmax"]]},
     "dtype must be one of float32, float64; got 'float16'"),
    ({"version": 1, "dtype": ["float32"], "layers": [[4, 5, "relu"], [5, 3, "softmax"]]},
     "dtype must be one of"),
    ({"version": 1, "layers": [[4, 5, "relu"], [5, 3, "softmax"]]}, r"missing keys \['dtype'\]"),
    ({"version": 1, "dtype": "float32", "layers": [[4, 5, "relu"], [5, 3, "softmax"]],
      "code": "import os"}, r"unknown keys \['code'\]"),
    ({"version": 1, "dtype": "float32", "layers": [[4, 5, "relu"], [5, 3, "softmax"]],
      "loss": "hinge"}, "unknown loss 'hinge'"),
    ({"version": 1, "dtype": "float32", "layers": [[4, 5, "relu"], [5, 3, "softmax"]],
      "task": ["x"]}, "unknown loss"),
])
def test_crafted_json_records(model, meta, message):
    with_meta(model, meta)
    refused(model, message)


def test_json_record_not_a_string_or_too_long(model, monkeypatch):
    with_members(model, {"meta.npy": npy(np.arange(3))})
    refused(model, "meta must be a text string; found int64")
    with_members(model, {"meta.npy": npy_claiming((), "<U100000000", b"{}")})   # 400 MB claim
    refused(model, r"declares shape .*\(400,000,000 bytes\) but holds 2 bytes")
    bp.save(tiny_net(), model)
    monkeypatch.setattr(bp.io, "META_LIMIT", 100)
    refused(model, "meta holds .* bytes; at most 100 are read")


def test_format_marker(model):
    with_members(model, {"format.npy": npy(np.asarray("backprop-modex"))})
    refused(model, "not a backprop model file")
    with_members(model, {"format.npy": None})
    refused(model, "not a backprop model file")
    with_members(model, {"format.npy": npy(np.asarray("x" * 10_000))})
    refused(model, "format holds .* at most 256")


# == Files from anywhere: the arrays' .npy headers ============================================
@pytest.mark.parametrize("member, message", [
    (npy_claiming((10 ** 9, 10 ** 9)), r"array W1 must be float32 \(5, 4\); found float32 "
                                       r"\(1000000000, 1000000000\)"),
    (npy_claiming((5, 4), "<f8", bytes(160)), r"W1 must be float32 \(5, 4\); found float64"),
    (npy_claiming((5, 4), "<i4", bytes(80)), "found int32"),
    (npy_claiming((5, 4), "|O", bytes(80)), "has dtype object; plain numbers"),
    (npy_claiming((5, 4), [("a", "<f4")], bytes(80)), "plain numbers or text"),
    (npy_claiming((5, 4), ("<f4", (2,)), bytes(160)), "plain numbers or text"),
    (npy_claiming((5, -4), "<f4"), r"declares the shape \(5, -4\)"),
    (npy_claiming((5, 4), "<f4", bytes(40)), r"\(5, 4\) of float32 \(80 bytes\) but holds 40"),
    (npy_claiming((5, 4), "<f4", bytes(81)), "but holds 81"),
    (b"\x93NUMPY\x03\x00" + bytes(100), r"format version \(3, 0\)"),
    (b"not an npy file at all" * 4, "cannot be read"),
    (b"\x93NUMPY\x01\x00\x10\x00{'descr': 'bad", "cannot be read"),
    (npy_claiming((5, 4), "<f4", bytes(80))[:8] + b"\xff\xff" + b" " * 70000, "cannot be read"),
    (None, r"array W1 must be float32 \(5, 4\); found missing"),
])
def test_crafted_array_headers(model, member, message):
    with_members(model, {"W1.npy": member})
    refused(model, message)


def test_an_object_array_is_never_unpickled(tmp_path, model):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = np.empty((5, 4), dtype=object)
    evil[0, 0] = Payload()
    with_members(model, {"W1.npy": npy(evil), "W2.npy": npy(evil)})
    refused(model, "dtype object")
    extra = tmp_path / "extra.npz"
    bp.save(tiny_net(), extra)
    with_members(extra, {"evil.npy": npy(evil)})                  # a member nobody names
    assert weights(bp.load(extra)) == weights(tiny_net())
    assert not marker.exists()


def test_big_endian_and_fortran_arrays_are_numbers_too(model):
    net = bp.load(model)
    W1 = to_host(net.layers[0].W)
    with_members(model, {"W1.npy": npy(W1.astype(">f4")), "W2.npy": npy(
        np.asfortranarray(to_host(net.layers[1].W)))})
    assert weights(bp.load(model)) == weights(net)


# == Files from anywhere: the ZIP container ===================================================
def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    big = bp.Sequential([bp.Dense(2000, 1000), bp.Dense(1000, 2)])
    path = tmp_path / "bomb.npz"
    bp.save(big, path)
    content = members(path)
    content["W1.npy"] = npy(np.zeros((1000, 2000), np.float32))      # 8 MB of zeros
    write_zip(path, content, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 100_000
    refused(path, r"claim .* bytes uncompressed from .* compressed bytes \(more than 32×\): "
                  r"refused as a possible zip bomb", limit=2 << 20)


def test_a_compressed_model_loads(tmp_path, model):
    write_zip(tmp_path / "c.npz", members(model), zipfile.ZIP_DEFLATED)
    assert weights(bp.load(tmp_path / "c.npz")) == weights(bp.load(model))
    np.savez_compressed(tmp_path / "s.npz", **{k.removesuffix(".npy"): v for k, v in
                                              np.load(model).items()})
    assert weights(bp.load(tmp_path / "s.npz")) == weights(bp.load(model))


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_other_compression_methods_are_refused(model, method):
    write_zip(model, members(model), method)
    refused(model, f"uses compression method {method}; only stored or deflated")


def test_zip_records_that_lie(tmp_path, model):
    content = members(model)
    write_zip(model, content)
    data = model.read_bytes()
    records = central_records(data)
    w1 = next(r for r in records if data[r + 46:r + 52] == b"W1.npy")
    model.write_bytes(patch(data, w1 + 8, "<H", 0x1))                   # "encrypted"
    refused(model, "member 'W1.npy' is encrypted")

    with pytest.warns(UserWarning, match="Duplicate name"):
        with zipfile.ZipFile(model, "w") as z:
            for name, member in content.items():
                z.writestr(name, member)
            z.writestr("W1.npy", npy(np.ones((5, 4), np.float32)))
    refused(model, "member 'W1.npy' appears twice")

    first_offset = int.from_bytes(data[records[0] + 42:records[0] + 46], "little")
    model.write_bytes(patch(data, records[1] + 42, "<I", first_offset))    # two point at one
    refused(model, "member 'b1.npy' overlaps the member before it")

    model.write_bytes(patch(data, records[2] + 42, "<I", len(data) + 10))  # beyond the end
    refused(model, "member 'W2.npy' extends beyond the archive")

    model.write_bytes(patch(data, records[2] + 24, "<I", 10 ** 9))   # stored size ≠ claim
    refused(model, "claims 1000000000 bytes but occupies")

    at = data.find(content["W1.npy"]) + len(content["W1.npy"]) - 1     # flip a weight's byte
    model.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:])
    refused(model, "W1 cannot be read: BadZipFile: Bad CRC-32")


def test_not_a_model_file(tmp_path, model):
    data = model.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 22, 3, 0):
        (tmp_path / "t.npz").write_bytes(data[:cut])
        refused(tmp_path / "t.npz", "not a readable backprop model file .truncated or foreign")
    refused(tmp_path, "is not a regular file")
    os.mkfifo(tmp_path / "fifo")
    refused(tmp_path / "fifo", "is not a regular file")
    refused(Path("/dev/zero"), "is not a regular file")
    np.save(tmp_path / "a.npy", np.ones(3))
    refused(tmp_path / "a.npy", "truncated or foreign")
    refused(tmp_path / "missing.npz", "does not exist")


# == Files from anywhere: checkpoints ==========================================================
@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "c.npz"
    run(path, 8, cut=2)
    return path


def edit_extra(path, change):
    meta = meta_of(path)
    change(meta["extra"])
    with_meta(path, meta)


@pytest.mark.parametrize("change, message", [
    (lambda e: e.update(epoch=-1), "epoch must be an int >= 0; got -1"),
    (lambda e: e.update(epoch=2.5), "epoch must be an int"),
    (lambda e: e.update(epoch="3"), "epoch must be an int"),
    (lambda e: e["optimizer"].update(t=-5), "step count t must be an int >= 0"),
    (lambda e: e["optimizer"].pop("t"), "step count t"),
    (lambda e: e.update(optimizer=[1]), "step count t"),
    (lambda e: e["optimizer"].update(buffers=["m", "m"]), "distinct names"),
    (lambda e: e["optimizer"].update(buffers=["../../m"]), "distinct names"),
    (lambda e: e["optimizer"].update(buffers="m"), "distinct names"),
    (lambda e: e["optimizer"].update(buffers=["m", "v", "w"]), "buffer 'w' has no array 0"),
    (lambda e: e.update(history={"log": {**e["history"]["log"], "file": "../c.npz"}}),
     "history log record must be a file name"),
    (lambda e: e.update(history={"log": {**e["history"]["log"], "file": "/etc/passwd"}}),
     "history log record must be a file name"),
    (lambda e: e.update(history={"log": {**e["history"]["log"], "rows": -1}}),
     "history log record"),
    (lambda e: e.update(history={"log": {**e["history"]["log"], "rows": 10 ** 9}}),
     "not a history of 1000000000 iterations"),
    (lambda e: e.update(history={"log": {**e["history"]["log"], "bytes": 10 ** 12}}),
     "shorter than"),
    (lambda e: e.update(history={"arrays": {"cost": 10 ** 12, "error": 0, "val_iteration": 0,
                                            "val_cost": 0, "val_error": 0}}),
     "array extra/history/cost is missing"),
    (lambda e: e.update(history={"cost": [1.0], "error": [], "val_iteration": [5],
                                 "val_cost": [1.0], "val_error": []}),
     "validation iterations are not increasing within 1..1"),
    (lambda e: e.update(history={"cost": ["x"], "error": [], "val_iteration": [],
                                 "val_cost": [], "val_error": []}), "history must hold the lists"),
    (lambda e: e.update(history={"cost": [1.0, 2.0], "error": [0.5], "val_iteration": [],
                                 "val_cost": [], "val_error": []}), "inconsistent lengths"),
    (lambda e: e.update(history=[1, 2]), "history must be"),
    (lambda e: e.update(callbacks={"a": 1}), "callbacks must be a list"),
    (lambda e: e.update(callbacks=[{"scalars": {}, "arrays": ["../x"]}]), "callback 0 must"),
    (lambda e: e["callbacks"][0].update(arrays=["other"]), "extra/callbacks/0/other is missing"),
    (lambda e: e.update(config=[1]), "config must be an object"),
    (lambda e: e.update(secret=1), r"unknown keys \['secret'\]"),
])
def test_crafted_training_states(checkpoint, change, message):
    edit_extra(checkpoint, change)
    refused(checkpoint, message, bp.load_checkpoint)


def test_crafted_history_and_state_arrays(tmp_path, checkpoint):
    with_members(checkpoint, {"extra/callbacks/0/best_theta.npy":
                              npy_claiming((10 ** 10,), "<f4", bytes(8))})
    refused(checkpoint, r"best_theta must be float32 \(43,\); found float32 \(10000000000,\)",
            bp.load_checkpoint)
    net, opt = tiny_net(), bp.SGD(0.1)
    history = bp.fit(net, "cross_entropy", opt, X, Y, epochs=1, batch_size=10)
    bp.save_checkpoint(tmp_path / "a.npz", net, opt, history, epoch=1)
    edit_extra(tmp_path / "a.npz", lambda e: e["history"]["arrays"].update(cost=10 ** 12))
    refused(tmp_path / "a.npz", r"cost must be float64 \(1000000000000,\); found float64 \(4,\)",
            bp.load_checkpoint)


def test_a_model_is_not_a_checkpoint(model):
    refused(model, "is a model but not a training checkpoint", bp.load_checkpoint)


def test_npy_files_from_anywhere(tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(npy_claiming((10 ** 6, 10 ** 6), "<f8", bytes(64)))
    refused(path, "declares shape .* but holds 64 bytes", npz.read_npy)
    path.write_bytes(npy(np.array([object()], dtype=object)))
    refused(path, "dtype object", npz.read_npy)
    path.write_bytes(b"garbage")
    refused(path, "cannot read .* as a .npy array", npz.read_npy)
    fortran = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    np.save(path, fortran)
    np.testing.assert_array_equal(npz.read_npy(path), fortran)


# == Files from anywhere: MNIST files ==========================================================
def test_an_idx_header_cannot_make_mnist_inflate_a_bomb(tmp_path):
    import gzip

    folder = tmp_path / "mnist"
    folder.mkdir()
    claim = (2051).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (10 ** 9, 28, 28))
    bomb = gzip.compress(claim + bytes(8 << 20))                 # 8 MB of zeros, 8 kB on disk
    for name in bp.datasets.MNIST_FILES:
        (folder / name).write_bytes(bomb if "images" in name else gzip.compress(b""))
    with peak_memory() as peak:
        with pytest.raises(bp.BackpropError, match=r"declares the shape \(1000000000, 28, 28\); "
                                                   r"at most \(60000, 28, 28\) is read"):
            bp.datasets.mnist(folder, download=False)
    assert peak[0] < 2 << 20
    small = (2051).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (2, 10, 10))
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(small + bytes(200)))
    labels = (2049).to_bytes(4, "big") + (2).to_bytes(4, "big") + bytes(2)
    for name in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(gzip.compress(labels))
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(small + bytes(200)))
    with pytest.raises(bp.BackpropError, match="images must be 28×28 pixels; got 100"):
        bp.datasets.mnist(folder, download=False)
