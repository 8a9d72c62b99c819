"""Optimizers against hand-computed updates; schedules; the optim.get lookup."""

import math

import numpy as np
import pytest

import backprop as bp
from backprop import optim
from backprop.device import to_host

RNG = np.random.default_rng(5)
X = RNG.normal(size=(12, 3))
Y = RNG.integers(0, 3, size=12)


def make_net(dtype="float64", device="cpu"):
    return bp.Sequential([bp.Dense(3, 4, "tanh"), bp.Dense(4, 3, "softmax")],
                         dtype=dtype, seed=2, device=device)


def params(net):
    return [to_host(p).astype(np.float64) for layer in net.layers for p in (layer.W, layer.b)]


def host_grads(net, weight_decay=0.0):
    """Gradients at the current θ from Algorithm 6.1, as host arrays (W1, b1, W2, b2)."""
    _, grads = net.backprop(X, Y, "cross_entropy", weight_decay)
    return [to_host(g) for pair in grads for g in pair], grads


def run_two_steps(optimizer, weight_decay=0.0):
    """θ0, the gradients g1, g2 and θ1, θ2 after two steps of ``optimizer``."""
    net = make_net()
    theta0 = params(net)
    g1, grads = host_grads(net, weight_decay)
    optimizer.step(net, grads)
    theta1 = params(net)
    g2, grads = host_grads(net, weight_decay)
    optimizer.step(net, grads)
    return theta0, g1, theta1, g2, params(net)


def assert_all_close(actual, expected, rtol=1e-13):
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=1e-15)


def test_sgd_steps():
    t0, g1, t1, g2, t2 = run_two_steps(bp.SGD(lr=0.3))
    assert_all_close(t1, [p - 0.3 * g for p, g in zip(t0, g1)], rtol=0)
    assert_all_close(t2, [p - 0.3 * g for p, g in zip(t1, g2)], rtol=0)


def test_heavy_ball_momentum_steps():
    mu, lr = 0.8, 0.2
    t0, g1, t1, g2, t2 = run_two_steps(bp.SGD(lr=lr, momentum=mu))
    v1 = g1
    v2 = [mu * v + g for v, g in zip(v1, g2)]
    assert_all_close(t1, [p - lr * v for p, v in zip(t0, v1)], rtol=0)
    assert_all_close(t2, [p - lr * v for p, v in zip(t1, v2)], rtol=0)


def test_nesterov_steps():
    mu, lr = 0.9, 0.1
    t0, g1, t1, g2, t2 = run_two_steps(bp.SGD(lr=lr, momentum=mu, nesterov=True))
    v1 = g1
    v2 = [mu * v + g for v, g in zip(v1, g2)]
    assert_all_close(t1, [p - lr * (g + mu * v) for p, g, v in zip(t0, g1, v1)])
    assert_all_close(t2, [p - lr * (g + mu * v) for p, g, v in zip(t1, g2, v2)])


def test_adam_steps():
    lr, b1, b2, eps = 0.01, 0.9, 0.99, 1e-7
    t0, g1, t1, g2, t2 = run_two_steps(bp.Adam(lr, beta1=b1, beta2=b2, eps=eps))
    m1 = [(1 - b1) * g for g in g1]
    v1 = [(1 - b2) * g ** 2 for g in g1]
    # First step: m̂ = g, v̂ = g², so every parameter moves by lr·g/(|g| + ε).
    assert_all_close(t1, [p - lr * g / (np.abs(g) + eps) for p, g in zip(t0, g1)])
    m2 = [b1 * m + (1 - b1) * g for m, g in zip(m1, g2)]
    v2 = [b2 * v + (1 - b2) * g ** 2 for v, g in zip(v1, g2)]
    expected = [p - lr * (m / (1 - b1 ** 2)) / (np.sqrt(v / (1 - b2 ** 2)) + eps)
                for p, m, v in zip(t1, m2, v2)]
    assert_all_close(t2, expected, rtol=1e-12)


def test_weight_decay_enters_through_the_gradient():
    lam = 0.05
    t0, g1, t1, _, _ = run_two_steps(bp.SGD(lr=0.5, weight_decay=lam), weight_decay=lam)
    net = make_net()
    g_plain, _ = host_grads(net)
    # dW gains λW, db is not decayed.
    expected = [p - 0.5 * (g + (lam * p if i % 2 == 0 else 0))
                for i, (p, g) in enumerate(zip(t0, g_plain))]
    assert_all_close(t1, expected, rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: bp.SGD(0.5), lambda: bp.SGD(0.2, momentum=0.9),
    lambda: bp.SGD(0.2, momentum=0.9, nesterov=True), lambda: bp.Adam(0.02),
    lambda: bp.SGD(bp.Cosine(0.5, steps=40)),
    lambda: bp.Adam(bp.StepDecay(0.05, every=20, factor=0.5)),
], ids=lambda make: repr(make()))
def test_each_optimizer_lowers_the_cost(make):
    net = make_net("float32")
    before = float(net.backprop(X, Y, "cross_entropy")[0])
    history = bp.fit(net, "cross_entropy", make(), X.astype(np.float32), Y, epochs=40)
    after = float(net.backprop(X, Y, "cross_entropy")[0])
    assert after < 0.7 * before and history.cost[-1] < history.cost[0]


@pytest.mark.parametrize("make", [lambda: bp.Adam(0.01),
                                  lambda: bp.SGD(0.1, momentum=0.9, nesterov=True)])
def test_optimizers_are_array_api_pure(make):
    xps = pytest.importorskip("array_api_strict")
    Xf = X.astype(np.float32)
    reference = make_net("float32")
    bp.fit(reference, "cross_entropy", make(), Xf, Y, epochs=3, batch_size=4)
    optimizer = make()
    with xps.ArrayAPIStrictFlags(api_version="2024.12"):
        strict = make_net("float32", device=xps)
        bp.fit(strict, "cross_entropy", optimizer, xps.asarray(Xf), xps.asarray(Y), epochs=3,
               batch_size=4)
    for layer in strict.layers:
        assert layer.W.dtype == xps.float32 and layer.b.dtype == xps.float32
    for buffer in optimizer.state_dict()[1].values():
        assert all(b.dtype == xps.float32 for b in buffer)
    assert_all_close(params(strict), params(reference), rtol=1e-5)


def test_schedules():
    step = bp.StepDecay(1.0, every=2, factor=0.5)
    assert [step(t) for t in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    cosine = bp.Cosine(1.0, steps=4, lr_min=0.2)
    assert cosine(0) == 1.0 and cosine(4) == pytest.approx(0.2) and cosine(9) == cosine(4)
    assert cosine(1) == pytest.approx(0.2 + 0.4 * (1 + math.cos(math.pi / 4)))
    sgd = bp.SGD(lr=step)
    rates = []
    for _ in range(4):
        rates.append(sgd.rate())
        sgd.step(make_net(), host_grads(make_net())[1])
    assert rates == [1.0, 1.0, 0.5, 0.5] and sgd.t == 4


def test_scheduled_step_uses_the_rate_of_that_step():
    net = make_net()
    sgd = bp.SGD(lr=bp.StepDecay(0.4, every=1, factor=0.5))
    sgd.t = 3
    theta0 = params(net)
    g, grads = host_grads(net)
    sgd.step(net, grads)
    assert_all_close(params(net), [p - 0.05 * gi for p, gi in zip(theta0, g)], rtol=0)


def test_get():
    assert isinstance(optim.get("SGD", lr=0.1), bp.SGD)
    nesterov = optim.get("nesterov", lr=0.1)
    assert nesterov.nesterov and nesterov.momentum == 0.9
    adam = optim.get("adam", lr=0.003, beta2=0.9)
    assert isinstance(adam, bp.Adam) and adam.beta2 == 0.9
    with pytest.raises(bp.BackpropError, match="sgd, nesterov, adam.*'rmsprop'"):
        optim.get("rmsprop")
    with pytest.raises(bp.BackpropError, match="optimizer 'adam'.*momentum"):
        optim.get("adam", momentum=0.9)


@pytest.mark.parametrize("make, message", [
    (lambda: bp.SGD(lr=0), "lr must be"),
    (lambda: bp.SGD(lr=0.1, momentum=1.0), "momentum must be"),
    (lambda: bp.SGD(lr=0.1, nesterov=True), "nesterov=True needs momentum"),
    (lambda: bp.Adam(beta1=1.0), "beta1 must be"),
    (lambda: bp.Adam(eps=0), "eps must be"),
    (lambda: bp.Adam(weight_decay=-1), "weight_decay must be"),
    (lambda: bp.StepDecay(0.1, every=0), "every must be"),
    (lambda: bp.Cosine(0.1, steps=10, lr_min=0.5), "lr_min must be"),
])
def test_invalid_settings(make, message):
    with pytest.raises(bp.BackpropError, match=message):
        make()
