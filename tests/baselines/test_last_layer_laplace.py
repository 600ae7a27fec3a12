"""last-layer-laplace: less confident than the MAP off the data, prior precision from the dev half only,
features that reproduce the model's logits, and the Hessian subsample's scaling."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("laplace", reason="laplace-torch not installed (see the README's test install line)")

from baselines.last_layer_laplace import (
    LastLayerLaplace,
    features,
    fit_laplace,
    output_layer,
    predictive,
)
from calibench import registry
from calibench.methods.inference import Deterministic

GRID = (1e-4, 1e4)  # laplace-torch's grid-search interval for the prior precision


def blobs(n: int, seed: int, dim: int = 6) -> tuple[torch.Tensor, np.ndarray]:
    """Two overlapping Gaussian classes in ``dim`` dimensions, means -1 and +1 along the first axis."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = rng.normal(size=(n, dim))
    x[:, 0] += 2.0 * y - 1.0
    return torch.from_numpy(x), y


def map_layer(x: torch.Tensor, y: np.ndarray, dim: int = 6) -> nn.Linear:
    """The MAP of a linear softmax classifier on few examples: unregularised, so overconfident."""
    torch.manual_seed(0)
    layer = nn.Linear(dim, 2).double()
    opt = torch.optim.LBFGS(layer.parameters(), max_iter=200)
    target = torch.as_tensor(y)

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(layer(x), target)
        loss.backward()
        return loss

    opt.step(closure)
    return layer


@pytest.fixture(scope="module")
def fitted():
    x_train, y_train = blobs(40, seed=0)
    x_dev, y_dev = blobs(200, seed=1)
    return map_layer(x_train, y_train), x_train, y_train, x_dev, y_dev


@pytest.mark.parametrize("hessian,link", [("kron", "probit"), ("diag", "probit"), ("kron", "mc"), ("diag", "mc")])
def test_predictive_is_less_confident_than_the_map_off_the_data(fitted, hessian, link):
    layer, x_train, y_train, x_dev, y_dev = fitted
    torch.manual_seed(0)  # the grid search's MC draws
    la = fit_laplace(layer, x_train, y_train, x_dev, y_dev, hessian=hessian, link=link, samples=200, grid_size=21)
    far = blobs(100, seed=2)[0] * 100.0  # the data's directions, 100x further out
    with torch.no_grad():
        map_conf = torch.softmax(layer(far), dim=1).max(dim=1).values.numpy()
    la_conf = predictive(la, far, link=link, samples=200).max(axis=1)
    assert map_conf.mean() > 0.99
    assert la_conf.mean() < map_conf.mean() - 0.02
    assert (la_conf <= map_conf + 1e-9).all()


def test_prior_precision_is_chosen_by_the_dev_labels(fitted):
    """Dev labels that agree with the MAP want the tightest posterior, labels against it the widest:
    the grid search answers to the dev half it is given."""
    layer, x_train, y_train, x_dev, _ = fitted
    with torch.no_grad():
        agree = layer(x_dev).argmax(dim=1).numpy()
    tight = fit_laplace(layer, x_train, y_train, x_dev, agree, grid_size=21).prior_precision.item()
    wide = fit_laplace(layer, x_train, y_train, x_dev, 1 - agree, grid_size=21).prior_precision.item()
    assert tight == pytest.approx(GRID[1]) and wide == pytest.approx(GRID[0])


def ctx_for(train, seed: int = 0) -> SimpleNamespace:
    import contextlib

    from calibench.training.batching import collate

    return SimpleNamespace(
        spec=SimpleNamespace(seed=seed, hyper=SimpleNamespace(eval_batch_size=8)),
        train=train,
        state={},
        progress=None,
        autocast=contextlib.nullcontext,
        batch=lambda enc, idx: collate(enc, idx),
    )


def test_features_reproduce_the_models_logits(tiny_model, encoded):
    model, enc = tiny_model(), encoded(20)
    ctx = ctx_for(enc)
    with torch.no_grad():
        logits = output_layer(model)(features(model, enc, ctx).float()).numpy()
    np.testing.assert_allclose(logits, Deterministic().predict(model, enc, ctx), atol=1e-5)


def test_inference_fits_on_train_and_dev_and_never_reads_test_labels(tiny_model, encoded):
    model, train, dev, test = tiny_model(), encoded(40, seed=0), encoded(20, seed=1), encoded(20, seed=2)
    ctx = ctx_for(train)
    inf = LastLayerLaplace().fit(model, ctx, dev)
    out = inf.predict(model, test, ctx)
    np.testing.assert_allclose(np.exp(out).sum(axis=1), 1.0, atol=1e-5)
    test.labels = np.roll(test.labels, 1)
    np.testing.assert_array_equal(inf.predict(model, test, ctx), out)
    params = inf.fitted_params()
    assert (
        params["n_hessian"] == 40 and params["n_dev"] == 20 and 0.99 * GRID[0] <= params["prior_precision"] <= GRID[1]
    )
    # the same fit straight from laplace-torch on the same features: same prior precision
    direct = fit_laplace(
        output_layer(model), features(model, train, ctx), train.labels, features(model, dev, ctx), dev.labels
    )
    assert params["prior_precision"] == pytest.approx(direct.prior_precision.item())


def test_a_hessian_subsample_is_scaled_to_the_full_training_set(tiny_model, encoded):
    model, train, dev = tiny_model(), encoded(40, seed=0), encoded(20, seed=1)
    inf = LastLayerLaplace(fit_size=10).fit(model, ctx_for(train), dev)
    assert inf.fitted_params()["n_hessian"] == 10 and inf.la_.temperature == pytest.approx(10 / 40)


def test_options_are_checked_and_it_is_registered_with_its_library():
    assert LastLayerLaplace().options == {
        "hessian": "kron",
        "link": "probit",
        "samples": 100,
        "fit_size": None,
        "grid": 100,
    }
    for bad, msg in (
        ({"hessian": "full"}, "hessian must be one of kron, diag"),
        ({"link": "bridge"}, "link must be one of probit, mc"),
        ({"samples": 0}, "samples must be a positive integer"),
        ({"fit_size": 2.5}, "fit_size must be a positive integer"),
        ({"grid": None}, "grid must be a positive integer"),
    ):
        with pytest.raises(ValueError, match=msg):
            LastLayerLaplace(**bad)
    entry = registry.get_entry("inference", "last-layer-laplace")
    assert entry.library == "laplace-torch" and entry.source == "calibench" and entry.load() is LastLayerLaplace


def test_without_laplace_torch_the_planner_gets_a_one_line_error_with_the_install_line(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "laplace" else real(name, *a))
    with pytest.raises(
        ValueError, match=r"needs laplace-torch, which is not installed: pip install .*--no-deps laplace-torch"
    ):
        LastLayerLaplace()


def test_labels_read_back_from_the_store_load_without_a_warning():
    """Stored arrays come back read-only; torch warns on such a view (seen in the grid's log)."""
    import warnings

    from baselines.last_layer_laplace import loader

    y = np.array([0, 1, 1, 0])
    y.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (_, labels), *_ = loader(torch.zeros(4, 2), y)
    assert labels.tolist() == [0, 1, 1, 0]
