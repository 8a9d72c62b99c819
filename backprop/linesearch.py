"""Gradient descent with a backtracking (Armijo) line search for the learning rate.

Seed 000 (§11.2): "The learning rate η for batch learning is usually taken to be a
constant, and can be optimized by a line search." Each iteration tries the step
θ − η dθ for η = η₀, ρη₀, ρ²η₀, … and takes the first η that satisfies the Armijo
(sufficient decrease) condition

    J(θ − η dθ) ≤ J(θ) − c η ‖dθ‖².

The trial steps need J at other parameters than the current ones, so the optimizer
declares ``needs_cost = True`` and `fit` hands its ``step`` a function ``cost()`` that
evaluates J (with the weight-decay term) on the current mini-batch at the network's
current parameters. Meant for full-batch training (``batch_size=None``), where J is
the same function at every iteration. Each comparison reads J on the host: one
device → host read per trial step.
"""

from __future__ import annotations

from .device import to_host
from .errors import check_number, check_positive_int


class LineSearch:
    """Full-batch gradient descent θ ← θ − η dθ with η from a backtracking Armijo search.

    ``lr`` is the largest step tried; each iteration starts from ``grow`` times the
    step accepted at the previous iteration (capped at ``lr``) and shrinks it by
    ``shrink`` until J(θ − η dθ) ≤ J(θ) − ``c``·η‖dθ‖², at most ``max_trials`` times.
    If no trial step decreases J enough (e.g. at a minimum, where rounding dominates),
    θ is left unchanged. ``steps`` records the accepted η of every iteration (0.0 when
    none was accepted) and ``evaluations`` counts the evaluations of J, the price of the
    search. ``weight_decay`` is passed to backprop by `fit` as for `SGD`.
    """

    needs_cost = True

    def __init__(self, lr=1.0, c=1e-4, shrink=0.5, grow=2.0, max_trials=30, weight_decay=0.0):
        check_number("lr", lr, lambda v: v > 0, "a number > 0")
        check_number("c", c, lambda v: 0 < v < 1, "a number in (0, 1)")
        check_number("shrink", shrink, lambda v: 0 < v < 1, "a number in (0, 1)")
        check_number("grow", grow, lambda v: v >= 1, "a number >= 1")
        check_number("weight_decay", weight_decay, lambda v: v >= 0, "a number >= 0")
        check_positive_int("max_trials", max_trials)
        self.lr, self.c, self.shrink, self.grow = lr, c, shrink, grow
        self.max_trials, self.weight_decay = max_trials, weight_decay
        self.steps = []
        self.evaluations = 0

    def step(self, net, grads, cost):
        """One Armijo-backtracking step along −dθ; ``cost()`` is J at the current θ."""
        xp = net.xp
        theta = net.get_flat()
        d_theta = net.flatten(grads)
        J0 = float(to_host(cost()))
        self.evaluations += 1
        slope = float(to_host(xp.sum(d_theta * d_theta)))
        eta = min(self.lr, self.steps[-1] * self.grow) if self.steps and self.steps[-1] else self.lr
        for _ in range(self.max_trials):
            net.set_flat(theta - eta * d_theta)
            self.evaluations += 1
            if float(to_host(cost())) <= J0 - self.c * eta * slope:
                self.steps.append(eta)
                return
            eta *= self.shrink
        net.set_flat(theta)
        self.steps.append(0.0)

    def __repr__(self):
        return (f"LineSearch(lr={self.lr}, c={self.c}, shrink={self.shrink}, grow={self.grow}, "
                f"max_trials={self.max_trials}, weight_decay={self.weight_decay})")
