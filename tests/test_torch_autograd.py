"""`Sequential.backprop` against PyTorch autograd, an independent reference (issue 6).

For every activation (in the hidden layers and at the output) and every loss, with weight
decay, the same network is rebuilt in PyTorch from the model's weights, its cost is
written with PyTorch's own functions (log_softmax, binary_cross_entropy_with_logits,
mse), and torch.autograd's ∂J/∂W, ∂J/∂b are compared with Algorithm 6.1's.
"""

import math

import numpy as np
import pytest

import backprop as bp
from backprop.activations import ACTIVATIONS

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH_ACTIVATIONS = {
    "identity": lambda Z: Z,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "arctan": lambda Z: torch.atan(Z) / math.pi + 0.5,
    "softmax": lambda Z: torch.softmax(Z, dim=1),
}
LOSSES = {
    "squared_error": (bp.SquaredError(), lambda out, T: ((out - T) ** 2).sum(dim=1).mean()),
    "half_squared_error": (bp.SquaredError(half=True),
                           lambda out, T: 0.5 * ((out - T) ** 2).sum(dim=1).mean()),
    "softmax_cross_entropy": (bp.SoftmaxCrossEntropy(),
                              lambda out, T: -(T * F.log_softmax(out, dim=1)).sum(dim=1).mean()),
    "sigmoid_cross_entropy": (
        bp.SigmoidCrossEntropy(),
        lambda out, T: F.binary_cross_entropy_with_logits(out, T, reduction="sum") / T.shape[0]),
}


def test_every_activation_has_a_reference():
    assert set(TORCH_ACTIVATIONS) == set(ACTIVATIONS)


def _targets(name, rng, n, M):
    if name == "softmax_cross_entropy":
        return rng.integers(0, M, size=n), None
    if name == "sigmoid_cross_entropy":
        T = rng.uniform(size=(n, M))
        return T, T
    T = rng.normal(size=(n, M))
    return T, T


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("hidden", sorted(ACTIVATIONS))
@pytest.mark.parametrize("output_is_link", [False, True], ids=["out=hidden", "out=link"])
def test_backprop_matches_autograd(hidden, loss_name, output_is_link):
    loss, torch_cost = LOSSES[loss_name]
    output = loss.link if output_is_link else hidden
    seed = sum(map(ord, hidden + loss_name)) + output_is_link
    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in rng.integers(2, 6, size=int(rng.integers(2, 5)))]
    n = int(rng.integers(1, 7))
    acts = [hidden] * (len(sizes) - 2) + [output]
    net = bp.Sequential([bp.Dense(a, b, h) for a, b, h in zip(sizes, sizes[1:], acts)],
                        dtype="float64", seed=seed)
    net.set_flat(rng.normal(size=net.n_params))      # random nonzero biases too
    X = rng.normal(size=(n, sizes[0]))
    y, T = _targets(loss_name, rng, n, sizes[-1])
    weight_decay = 0.07

    J, grads = net.backprop(X, y, loss, weight_decay=weight_decay)

    Ws = [torch.tensor(np.asarray(layer.W), requires_grad=True) for layer in net.layers]
    bs = [torch.tensor(np.asarray(layer.b), requires_grad=True) for layer in net.layers]
    Q = torch.tensor(X)
    for l, (W, b, h) in enumerate(zip(Ws, bs, acts), start=1):
        Z = Q @ W.T + b
        # the loss takes the logits Z when the output activation is its link (eq. 11.6)
        Q = Z if l == len(acts) and h == loss.link else TORCH_ACTIVATIONS[h](Z)
    if T is None:
        T = F.one_hot(torch.tensor(y), sizes[-1]).double()
    else:
        T = torch.tensor(T)
    J_ref = torch_cost(Q, T) + weight_decay / 2 * sum((W * W).sum() for W in Ws)
    J_ref.backward()

    np.testing.assert_allclose(float(J), J_ref.item(), rtol=1e-12)
    for (dW, db), W, b in zip(grads, Ws, bs):
        np.testing.assert_allclose(dW, W.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(db, b.grad.numpy(), rtol=1e-9, atol=1e-12)
