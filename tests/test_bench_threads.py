"""The threaded paths added for the paper presets' speed give the same results as one thread, bit for bit."""

import numpy as np
from stepsize.models import eos


def test_eos_train_is_bit_identical_with_one_or_two_workers():
    X, Y = eos.digits_task(60, 0)
    net = eos.Net((64, 8, 8, 10))
    theta0 = np.repeat(net.init(np.random.default_rng(0), 2) * 0.6, 3, axis=0)
    etas = np.tile([0.5, 0.35, 5.0], 2)
    a = eos.train(net, theta0, etas, X, Y, 60, 20, workers=1)
    b = eos.train(net, theta0, etas, X, Y, 60, 20, workers=2)
    assert np.array_equal(a.loss, b.loss, equal_nan=True) and np.array_equal(a.sharp, b.sharp, equal_nan=True)
    assert np.array_equal(a.diverged, b.diverged)
