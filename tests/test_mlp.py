"""numpy GELU MLP: hand-written backprop against finite differences, data loaders, GD/SGD shapes."""

import gzip
import struct

import numpy as np
import pytest

from stepsize import mlp


def test_gelu_values_and_derivative(fd):
    assert mlp.gelu(np.array(0.0)) == 0.0
    # tanh-form GELU at 1: 0.5 (1 + tanh(sqrt(2/pi) * 1.044715)) = 0.841192 (hand-computed)
    assert mlp.gelu(np.array(1.0)) == pytest.approx(0.8411920, abs=1e-6)
    z = np.linspace(-4, 4, 9)
    num = np.array([fd(lambda v: float(mlp.gelu(v)[0]), np.array([zi]))[0] for zi in z])
    assert np.allclose(mlp.gelu_prime(z), num, atol=1e-7)


@pytest.mark.parametrize("sizes", [(5, 4, 3), (5, 4, 4, 3)])
def test_backprop_matches_finite_differences(sizes, fd):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((7, sizes[0]))
    Y = rng.standard_normal((7, sizes[-1]))
    layers = mlp.init(rng, 2, sizes)
    layers = [(W, rng.standard_normal(b.shape) * 0.3) for W, b in layers]
    lo, grads = mlp.loss_and_grad(layers, X, Y)
    assert np.allclose(lo, mlp.loss(layers, X, Y))
    for l in range(len(layers)):
        for which in (0, 1):
            def f(v, l=l, which=which):
                new = [list(p) for p in layers]
                new[l][which] = v
                return float(mlp.loss([tuple(p) for p in new], X, Y)[1])
            num = fd(f, layers[l][which].copy())
            assert np.allclose(grads[l][which][1], num[1], atol=1e-7)


def test_gd_and_sgd_shapes_and_divergence_handled():
    rng = np.random.default_rng(1)
    X = rng.random((30, 6))
    Y = mlp.one_hot(rng.integers(0, 3, 30), 3)
    eta = np.array([0.05, 0.5, 1e4])
    tr = mlp.gd(mlp.init(rng, 3, (6, 8, 3)), X, Y, eta, 50)
    assert tr.loss.shape == (51, 3)
    assert tr.loss[-1, 0] < tr.loss[0, 0]
    c = mlp.converged(tr)
    assert c[0] and not c[2]
    tr2 = mlp.sgd(mlp.init(rng, 3, (6, 8, 3)), X, Y, eta, 4, 10, rng)
    assert tr2.loss.shape == (5, 3)


def test_idx_reader_and_loaders(tmp_path):
    imgs = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    labs = np.array([4, 7], dtype=np.uint8)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">HBB", 0, 8, 3) + struct.pack(">III", 2, 3, 3) + imgs.tobytes())
    with open(tmp_path / "train-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">HBB", 0, 8, 1) + struct.pack(">I", 2) + labs.tobytes())
    X, Y, name = mlp.load(str(tmp_path))
    assert name == "MNIST" and X.shape == (2, 9) and X.max() == pytest.approx(17 / 255)
    assert np.array_equal(Y.argmax(axis=1), [4, 7])
    Xd, Yd, named = mlp.load("", n=50, rng=np.random.default_rng(0))
    assert Xd.shape == (50, 64) and Yd.shape == (50, 10) and named.startswith("digits")
    assert 0.0 <= Xd.min() and Xd.max() <= 1.0


def test_fast_gelu_pieces_equal_the_formulas_bit_for_bit():
    rng = np.random.default_rng(5)
    z = rng.standard_normal((6, 30, 8)) * 4.0
    h, t = mlp._gelu_with_tanh(z)
    assert np.array_equal(h, mlp.gelu(z))
    assert np.array_equal(t, np.tanh(np.sqrt(2 / np.pi) * z * (1 + 0.044715 * z * z)))
    assert np.array_equal(mlp._gelu_prime_from(z, t), mlp.gelu_prime(z))
