"""fit's callbacks, early stopping with best-weights restore, resuming, progress, CSV export."""

import csv

import numpy as np
import pytest

import backprop as bp
from backprop.device import to_host

RNG = np.random.default_rng(7)
X = RNG.normal(size=(40, 3)).astype(np.float32)
Y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
Xv = RNG.normal(size=(30, 3)).astype(np.float32)
Yv = (Xv[:, 0] * Xv[:, 1] > 0).astype(np.int64)


def make_net(seed=0):
    return bp.Sequential([bp.Dense(3, 8, "tanh"), bp.Dense(8, 2, "softmax")], seed=seed)


def weights(net):
    return b"".join(to_host(p).tobytes() for layer in net.layers for p in (layer.W, layer.b))


class Recorder:
    def __init__(self, stop_at=None):
        self.calls, self.stop_at, self.ended = [], stop_at, False

    def on_epoch_end(self, epoch, history, net):
        self.calls.append((epoch, history.iterations))
        return epoch == self.stop_at

    def on_train_end(self, history, net):
        self.ended = True


def test_callbacks_see_every_epoch_and_can_stop():
    rec, other = Recorder(), Recorder()
    bp.fit(make_net(), "cross_entropy", bp.SGD(0.1), X, Y, epochs=3, batch_size=10,
           callbacks=[rec, other])
    assert rec.calls == other.calls == [(0, 4), (1, 8), (2, 12)] and rec.ended
    stopper, watcher = Recorder(stop_at=1), Recorder()
    history = bp.fit(make_net(), "cross_entropy", bp.SGD(0.1), X, Y, epochs=5, batch_size=10,
                     callbacks=[stopper, watcher])
    assert history.iterations == 8 and watcher.calls == [(0, 4), (1, 8)]


def test_early_stopping_restores_the_weights_of_the_best_epoch():
    # A large rate makes the validation cost go up after a few epochs.
    stop = bp.EarlyStopping(patience=2)
    net = make_net()
    history = bp.fit(net, "cross_entropy", bp.SGD(3.0), X, Y, epochs=60, batch_size=10,
                     validation_data=(Xv, Yv), eval_every=4, callbacks=[stop])
    assert stop.stopped_epoch is not None and history.iterations < 240
    epoch_costs = history.val_cost
    best = int(np.argmin(epoch_costs))
    assert stop.best_epoch == best and stop.best == epoch_costs[best]
    assert stop.stopped_epoch == best + 2
    # The same run cut after the best epoch gives exactly the restored weights.
    reference = make_net()
    bp.fit(reference, "cross_entropy", bp.SGD(3.0), X, Y, epochs=best + 1, batch_size=10,
           validation_data=(Xv, Yv), eval_every=4)
    assert weights(net) == weights(reference)


def test_early_stopping_without_validation_data_fails_before_any_step():
    net = make_net()
    before = weights(net)
    with pytest.raises(bp.BackpropError, match="EarlyStopping needs the validation cost"):
        bp.fit(net, "cross_entropy", bp.SGD(0.1), X, Y, epochs=3, batch_size=10,
               callbacks=[bp.EarlyStopping()])
    assert weights(net) == before
    with pytest.raises(bp.BackpropError, match="patience"):
        bp.EarlyStopping(patience=0)


def test_early_stopping_gets_a_validation_value_at_every_epoch_end():
    """eval_every=7 does not divide the 4 iterations of an epoch: fit adds the epoch ends."""
    stop = bp.EarlyStopping(patience=50)
    history = bp.fit(make_net(), "cross_entropy", bp.SGD(0.1), X, Y, epochs=3, batch_size=10,
                     validation_data=(Xv, Yv), eval_every=7, callbacks=[stop])
    assert history.val_iteration == [4, 7, 8, 12]
    assert stop.best == min(history.val_cost[i] for i in (0, 2, 3))


def test_callback_without_on_epoch_end_fails_before_any_step():
    net = make_net()
    before = weights(net)
    with pytest.raises(bp.BackpropTypeError, match="on_epoch_end"):
        bp.fit(net, "cross_entropy", bp.SGD(0.1), X, Y, epochs=3, batch_size=10,
               callbacks=[object()])
    assert weights(net) == before


@pytest.mark.parametrize("optimizer", [lambda: bp.SGD(0.2, momentum=0.9),
                                       lambda: bp.Adam(0.01)])
def test_resumed_run_equals_uninterrupted_run(optimizer):
    full_net = make_net()
    full = bp.fit(full_net, "cross_entropy", optimizer(), X, Y, epochs=4, batch_size=15,
                  validation_data=(Xv, Yv), eval_every=3, seed=4)
    net, opt = make_net(), optimizer()
    first = bp.fit(net, "cross_entropy", opt, X, Y, epochs=4, batch_size=15,
                   validation_data=(Xv, Yv), eval_every=3, seed=4,
                   callbacks=[Recorder(stop_at=1)])
    assert first.iterations == 6
    resumed = bp.fit(net, "cross_entropy", opt, X, Y, epochs=4, batch_size=15,
                     validation_data=(Xv, Yv), eval_every=3, seed=4, initial_epoch=2,
                     history=first)
    assert resumed is first and resumed.as_dict() == full.as_dict()
    assert weights(net) == weights(full_net)


def test_initial_epoch_is_checked():
    with pytest.raises(bp.BackpropError, match="initial_epoch"):
        bp.fit(make_net(), "cross_entropy", bp.SGD(0.1), X, Y, epochs=2, initial_epoch=2)


def test_progress_bar_shows_validation_error(capsys):
    bp.fit(make_net(), "cross_entropy", bp.SGD(0.1), X, Y, epochs=2, batch_size=10,
           validation_data=(Xv, Yv), eval_every=4, progress=True)
    err = capsys.readouterr().err
    assert "8/8" in err and "val_err=" in err and "val_cost=" in err


def test_history_to_csv(tmp_path):
    history = bp.fit(make_net(), "cross_entropy", bp.SGD(0.1), X, Y, epochs=2, batch_size=10,
                     validation_data=(Xv, Yv), eval_every=3)
    history.to_csv(tmp_path / "h.csv")
    with open(tmp_path / "h.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == history.iterations == 8
    assert [float(r["cost"]) for r in rows] == history.cost
    assert [float(r["error"]) for r in rows] == history.error
    filled = [int(r["iteration"]) for r in rows if r["val_cost"]]
    assert filled == history.val_iteration == [3, 6, 8]
    assert [float(r["val_error"]) for r in rows if r["val_error"]] == history.val_error


def test_history_to_csv_for_regression(tmp_path):
    net = bp.Sequential([bp.Dense(3, 1)])
    history = bp.fit(net, "squared_error", bp.SGD(0.01), X, X[:, 0], epochs=2)
    history.to_csv(tmp_path / "h.csv")
    with open(tmp_path / "h.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["error"] for r in rows] == ["", ""] and float(rows[1]["cost"]) == history.cost[1]
