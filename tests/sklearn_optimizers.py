"""scikit-learn's stochastic optimizers, transcribed to plain NumPy as a test
reference for fastnn's optimizer kernels (docs/theory.md §13).

A transcription, not a copy: the equations and the order of operations of
``sklearn/neural_network/_stochastic_optimizers.py`` (scikit-learn 1.9),
and of the lines of ``_multilayer_perceptron.py`` around them (the L2 term
of the gradient, when the schedule moves), written here from their
mathematics, independently of fastnn's kernels. Each parameter group is an
array (scikit-learn passes its ``coefs_ + intercepts_`` list; fastnn's flat
vector is a list of one). ``tests/test_optimizers.py`` checks every class
here against the installed scikit-learn's own classes, and fastnn's kernels
against these.

With g the gradient of a mini-batch, eta the current learning rate:

* SGD with momentum mu:          v <- mu v - eta g;  p <- p + v
* SGD with Nesterov's momentum:  v <- mu v - eta g;  p <- p + mu v - eta g
  (v already the new velocity; mu = 0 is plain SGD, p <- p - eta g)
* Adam, at step t = 1, 2, ...:   m <- b1 m + (1 - b1) g
                                 s <- b2 s + (1 - b2) g^2
                                 eta_t = eta sqrt(1 - b2^t) / (1 - b1^t)
                                 p <- p - eta_t m / (sqrt(s) + eps)

The schedules (SGD only; Adam keeps eta):

* constant:   eta = eta_0;
* invscaling: after each epoch, eta = eta_0 / (t + 1)^power_t, t the
  training samples seen so far (``t_``);
* adaptive:   when the stopping rule fires (no improvement for more than
  n_iter_no_change epochs), eta is divided by 5 and training goes on,
  unless eta <= 1e-6 already: then it stops.
"""
from __future__ import annotations

import numpy as np

__all__ = ["coupled_l2_gradient", "MomentumSGD", "Adam"]


def coupled_l2_gradient(weight_sums, weights, alpha, batch_weight):
    """scikit-learn's weight gradient of a batch with L2 (``_compute_loss_grad``):
    (sum_n s_n dC_n/dW + alpha W) / sum_n s_n, with ``weight_sums`` the sum
    and ``batch_weight`` the batch's sum of sample weights (its size without
    weights). The biases' gradient has no L2 term."""
    return (weight_sums + alpha * weights) / batch_weight


class MomentumSGD:
    """SGD with (Nesterov's) momentum and a learning-rate schedule, as
    scikit-learn's SGDOptimizer."""

    def __init__(self, params, learning_rate_init=0.1, schedule="constant", momentum=0.9,
                 nesterov=True, power_t=0.5):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.schedule = schedule
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t
        self.velocities = [np.zeros_like(p) for p in params]

    def step(self, params, grads):
        """One step, in place: every p of ``params`` by its g of ``grads``."""
        mu, eta = self.momentum, self.learning_rate
        for p, v, g in zip(params, self.velocities, grads):
            v[...] = mu * v - eta * g
            if self.nesterov:
                p += mu * v - eta * g
            else:
                p += v

    def epoch_ended(self, samples_seen):
        """invscaling: the rate of the next epoch, from the samples seen so far."""
        if self.schedule == "invscaling":
            self.learning_rate = float(self.learning_rate_init) / (samples_seen + 1) ** self.power_t

    def no_improvement(self):
        """The stopping rule fired: True to stop; adaptive divides the rate
        by 5 and goes on while the rate is above 1e-6."""
        if self.schedule != "adaptive" or self.learning_rate <= 1e-6:
            return True
        self.learning_rate /= 5.0
        return False


class Adam:
    """Adam, as scikit-learn's AdamOptimizer (epsilon added to sqrt(s), not
    to the bias-corrected sqrt(s / (1 - b2^t)))."""

    def __init__(self, params, learning_rate_init=0.001, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.t = 0
        self.first = [np.zeros_like(p) for p in params]
        self.second = [np.zeros_like(p) for p in params]

    def step(self, params, grads):
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        for m, s, g in zip(self.first, self.second, grads):
            m[...] = b1 * m + (1 - b1) * g
            s[...] = b2 * s + (1 - b2) * g ** 2
        self.learning_rate = self.learning_rate_init * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        for p, m, s in zip(params, self.first, self.second):
            p += -self.learning_rate * m / (np.sqrt(s) + self.epsilon)

    def epoch_ended(self, samples_seen):
        """Adam keeps its rate between epochs."""

    def no_improvement(self):
        return True
