"""Saving and loading: bit-identical round trips, atomic writes, clear errors on bad files."""

import json
import zipfile

import numpy as np
import pytest

import backprop as bp
from backprop.device import to_host


def make_net(dtype="float32", seed=3, device="cpu"):
    return bp.Sequential([bp.Dense(4, 5, "relu"), bp.Dense(5, 3, "tanh"),
                          bp.Dense(3, 3, "arctan"), bp.Dense(3, 2, "softmax")],
                         dtype=dtype, seed=seed, device=device)


def params(net):
    return [to_host(p) for layer in net.layers for p in (layer.W, layer.b)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_is_bit_identical(tmp_path, dtype):
    net = make_net(dtype)
    X = np.random.default_rng(0).normal(size=(7, 4)).astype(dtype)
    bp.fit(net, "cross_entropy", bp.SGD(0.1), X, np.arange(7) % 2, epochs=2)
    bp.save(net, tmp_path / "m.npz")
    back = bp.load(tmp_path / "m.npz")
    assert [repr(layer) for layer in back.layers] == [repr(layer) for layer in net.layers]
    assert back.dtype == net.dtype
    for a, b in zip(params(net), params(back)):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert to_host(back.predict(X)).tobytes() == to_host(net.predict(X)).tobytes()


def test_load_onto_array_api_strict(tmp_path):
    xps = pytest.importorskip("array_api_strict")
    net = make_net()
    bp.save(net, tmp_path / "m.npz")
    back = bp.load(tmp_path / "m.npz", device=xps)
    assert back.backend.name == "array_api_strict"
    for a, b in zip(params(net), params(back)):
        np.testing.assert_array_equal(a, b)
    other = bp.load(tmp_path / "m.npz", device=(xps, xps.Device("device1")))
    X = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
    out = other.predict(xps.asarray(X, device=xps.Device("device1")))
    np.testing.assert_allclose(to_host(out), to_host(net.predict(X)), rtol=1e-6)
    bp.save(other, tmp_path / "again.npz")  # and back from the strict namespace
    for a, b in zip(params(net), params(bp.load(tmp_path / "again.npz"))):
        assert a.tobytes() == b.tobytes()


def test_file_holds_no_pickled_objects(tmp_path):
    bp.save(make_net(), tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        assert all(f[name].dtype != object for name in f.files)
    assert meta["layers"] == [[4, 5, "relu"], [5, 3, "tanh"], [3, 3, "arctan"],
                              [3, 2, "softmax"]]
    assert meta["dtype"] == "float32"


def test_custom_activation_cannot_be_saved(tmp_path):
    net = bp.Sequential([bp.Dense(2, 2, (lambda z: z * z, lambda z: 2 * z))])
    with pytest.raises(bp.BackpropError, match="custom activation"):
        bp.save(net, tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    bp.save(make_net(seed=1), path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        bp.save(make_net(seed=2), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_truncated_file(tmp_path):
    path = tmp_path / "m.npz"
    bp.save(make_net(), path)
    data = path.read_bytes()
    for cut in (len(data) // 2, 100, 10):
        path.write_bytes(data[:cut])
        with pytest.raises(bp.BackpropError, match="truncated or foreign"):
            bp.load(path)


def test_foreign_files(tmp_path):
    text = tmp_path / "a.txt"
    text.write_text("hello")
    other = tmp_path / "other.npz"
    np.savez(other, W1=np.zeros((2, 2)))
    for path in (text, other):
        with pytest.raises(bp.BackpropError, match="not a"):
            bp.load(path)
    with pytest.raises(bp.BackpropError, match="does not exist"):
        bp.load(tmp_path / "missing.npz")


def rewrite(path, **changes):
    with np.load(path) as f:
        content = {name: f[name] for name in f.files}
    content.update(changes)
    for name, value in list(content.items()):
        if value is None:
            del content[name]
    with open(path, "wb") as f:
        np.savez(f, **content)


def test_corrupt_records(tmp_path):
    path = tmp_path / "m.npz"
    cases = [
        ({"meta": np.asarray("{not json")}, "corrupt architecture"),
        ({"meta": np.asarray(json.dumps({"version": 1, "dtype": "float32",
                                         "layers": [[4, 2, "nope"]]}))}, "corrupt architecture"),
        ({"W2": np.zeros((2, 2), np.float32)}, r"W2 must be float32 \(3, 5\)"),
        ({"b1": None}, "b1 must be .* found missing"),
        ({"W1": np.zeros((5, 4), np.float64)}, "W1 must be float32"),
    ]
    for changes, message in cases:
        bp.save(make_net(), path)
        rewrite(path, **changes)
        with pytest.raises(bp.BackpropError, match=message):
            bp.load(path)


def test_checkpoint_round_trip_restores_optimizer_state(tmp_path):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(20, 4)).astype(np.float32), rng.integers(0, 2, 20)
    net = make_net()
    adam = bp.Adam(0.01)
    history = bp.fit(net, "cross_entropy", adam, X, y, epochs=2, batch_size=5)
    bp.save_checkpoint(tmp_path / "c.npz", net, adam, history, epoch=2, config={"a": 1})
    net2, state = bp.load_checkpoint(tmp_path / "c.npz")
    adam2 = bp.Adam(0.01)
    adam2.load_state_dict(state["optimizer"])
    assert state["epoch"] == 2 and state["config"] == {"a": 1}
    assert state["history"].as_dict() == history.as_dict()
    assert adam2.t == adam.t == 8
    for a, b in zip(adam.m + adam.v, adam2.m + adam2.v):
        assert to_host(a).tobytes() == to_host(b).tobytes()
    bp.fit(net, "cross_entropy", adam, X, y, epochs=1, batch_size=5, seed=9)
    bp.fit(net2, "cross_entropy", adam2, X, y, epochs=1, batch_size=5, seed=9)
    for a, b in zip(params(net), params(net2)):
        assert a.tobytes() == b.tobytes()
    assert isinstance(bp.load(tmp_path / "c.npz"), bp.Sequential)
    bp.save(net, tmp_path / "plain.npz")
    with pytest.raises(bp.BackpropError, match="not a training checkpoint"):
        bp.load_checkpoint(tmp_path / "plain.npz")


def test_saved_file_is_a_zip_of_npy_arrays(tmp_path):
    bp.save(make_net(), tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as z:
        assert sorted(z.namelist()) == sorted(
            ["format.npy", "meta.npy"] + [f"{k}{l}.npy" for l in range(1, 5) for k in "Wb"])


@pytest.mark.gpu
def test_gpu_model_loads_on_cpu_and_back(tmp_path):
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA GPU")
    except cupy.cuda.runtime.CUDARuntimeError:
        pytest.skip("no CUDA GPU")
    net = make_net(device="cuda")
    X = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    bp.fit(net, "cross_entropy", bp.Adam(0.01), X, np.arange(7) % 2, epochs=2)
    bp.save(net, tmp_path / "gpu.npz")
    cpu = bp.load(tmp_path / "gpu.npz")
    bp.save(cpu, tmp_path / "cpu.npz")
    gpu = bp.load(tmp_path / "cpu.npz", device="cuda")
    for a, b, c in zip(params(net), params(cpu), params(gpu)):
        assert a.tobytes() == b.tobytes() == c.tobytes()


def test_corrupt_training_state(tmp_path):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(8, 4)).astype(np.float32), rng.integers(0, 2, 8)
    net, sgd = make_net(), bp.SGD(0.1, momentum=0.9)
    history = bp.fit(net, "cross_entropy", sgd, X, y, epochs=1)
    path = tmp_path / "c.npz"
    for changes in ({"extra/optimizer/velocity/0": np.zeros((2, 2), np.float32)},
                    {"extra/optimizer/velocity/7": None}):
        bp.save_checkpoint(path, net, sgd, history, epoch=1)
        rewrite(path, **changes)
        with pytest.raises(bp.BackpropError, match=r"c\.npz.*velocity"):
            bp.load_checkpoint(path)
