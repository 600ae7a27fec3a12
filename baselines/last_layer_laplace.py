"""Last-layer Laplace (MacKay 1992; Kristiadi et al. 2020; Daxberger et al. 2021, "Laplace
Redux") over a finetuned classifier, through laplace-torch.

What is Bayesian. Only the output layer of the classification head (``head.out_proj``:
H x C weights and C biases) gets a Gaussian posterior around its finetuned (MAP) value. Its
precision is the generalised Gauss-Newton matrix of the training loss, Kronecker-factored
(``hessian=kron``, the default) or diagonal (``hessian=diag``), plus an isotropic prior
precision. Everything below that layer keeps its MAP weights, so the layer's inputs (the
*features*) are computed once per split by one deterministic pass, and laplace-torch's
last-layer Laplace sees ``nn.Sequential(out_proj)`` on those features. Same posterior as
handing it the whole encoder, without a transformer pass per prior-precision candidate.

Which data fits what:

* the **Hessian** on the training set, or on a seeded subsample of ``fit_size`` rows
  (cheaper on a big task). A subsample's Hessian is scaled by ``n_train / fit_size``
  (laplace-torch's likelihood temperature ``fit_size / n_train``), so it estimates the
  full set's;
* the **prior precision** by laplace-torch's grid search (``grid=100`` log-spaced values,
  1e-4 to 1e4) for the lowest NLL of the predictive on the **dev half**, the split every
  calibrator fits on, never the test half. The training job hands :meth:`fit` the dev half
  only.

Predictive. The linearised (GLM) predictive, logits ``f ~ N(f_MAP, J Sigma J^T)``, turned
into probabilities by the probit approximation (``link=probit``, the default) or by the mean
softmax of ``samples`` Monte-Carlo draws of ``f`` (``link=mc``, seeded by the training seed).
The output is the log of those probabilities, a valid logit vector, so calibrators compose
(``last-layer-laplace+temp-scaling``).

Cost. One eval-mode pass over the training rows used and the dev and test halves (about a
deterministic inference's cost), then float64 linear algebra on ``(n, H)`` features; the grid
search dominates it (each candidate is one predictive over the dev half). Importing
laplace-torch (through torchmetrics) takes a few seconds once per process.
"""

from __future__ import annotations

import copy
import importlib.util
import warnings
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from calibench.errors import OptionError
from calibench.methods.base import Inference
from calibench.training.batching import Encoded, eval_batches

#: laplace-torch and backpack declare torchvision, unused here, whose resolution would replace a CPU torch
INSTALL = (
    'pip install "calibench[laplace]" && pip install --no-deps laplace-torch==0.3 '
    "backpack-for-pytorch==1.7.1 curvlinops-for-pytorch==3.0.1"
)
HESSIANS: tuple[str, ...] = ("kron", "diag")
LINKS: tuple[str, ...] = ("probit", "mc")
#: rows per laplace-torch call (fit, grid search, predictive): bounds the (B, C, P) Jacobians
CHUNK = 256
#: prior-precision candidates, log-spaced over [1e-4, 1e4] (laplace-torch's grid search default)
GRID_SIZE = 100


def output_layer(model: nn.Module) -> nn.Linear:
    """The last linear layer of the classification head, whose weights get the posterior."""
    layer = getattr(getattr(model, "head", None), "out_proj", None)
    if not isinstance(layer, nn.Linear):
        raise TypeError("last-layer-laplace needs a calibench Classifier whose head ends in a Linear `out_proj`")
    return layer


def take(enc: Encoded, idx: np.ndarray) -> Encoded:
    """The rows ``idx`` of a tokenised split."""
    tti = [enc.token_type_ids[i] for i in idx] if enc.token_type_ids is not None else None
    return Encoded([enc.input_ids[i] for i in idx], tti, enc.labels[idx], enc.pad_id)


def features(model: nn.Module, enc: Encoded, ctx: Any) -> torch.Tensor:
    """The output layer's inputs ``(n, H)`` (float64, example order), from one eval-mode pass."""
    layer, out = output_layer(model), torch.zeros(len(enc), output_layer(model).in_features, dtype=torch.float64)
    grabbed: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda _m, inputs, _o: grabbed.append(inputs[0]))
    model.eval()
    try:
        with torch.no_grad():
            for idx in eval_batches(enc.lengths, ctx.spec.hyper.eval_batch_size):
                with ctx.autocast():
                    model(**ctx.batch(enc, idx))
                out[torch.from_numpy(idx)] = grabbed.pop().double().cpu()
    finally:
        hook.remove()
    return out


def loader(x: torch.Tensor, y: np.ndarray) -> DataLoader:
    # a copy: the labels may be a read-only view of a stored array, which torch warns about
    return DataLoader(TensorDataset(x, torch.tensor(y, dtype=torch.long)), batch_size=CHUNK)


class LastLayerLaplace(Inference):
    """Laplace posterior on the head's output layer; prior precision by dev-half NLL; probit or MC predictive."""

    defaults: ClassVar[dict[str, Any]] = {
        "hessian": "kron",
        "link": "probit",
        "samples": 100,
        "fit_size": None,
        "grid": GRID_SIZE,
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        o = self.options
        if o["hessian"] not in HESSIANS:
            raise OptionError(f"last-layer-laplace: hessian must be one of {', '.join(HESSIANS)}, got {o['hessian']!r}")
        if o["link"] not in LINKS:
            raise OptionError(f"last-layer-laplace: link must be one of {', '.join(LINKS)}, got {o['link']!r}")
        for key in ("samples", "fit_size", "grid"):
            v = o[key]
            if (v is not None or key != "fit_size") and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise OptionError(f"last-layer-laplace: {key} must be a positive integer, got {v!r}")
        if importlib.util.find_spec("laplace") is None:
            raise OptionError(f"last-layer-laplace needs laplace-torch, which is not installed: {INSTALL}")
        self.la_: Any = None
        self.n_fit_ = self.n_dev_ = 0
        self._dev: tuple[Any, torch.Tensor] = (None, torch.empty(0))

    def fit(self, model: nn.Module, ctx: Any, dev: Encoded) -> LastLayerLaplace:
        """Hessian on the training rows (``ctx.train``), prior precision on ``dev`` (the dev half)."""
        n_train = len(ctx.train)
        size = self.options["fit_size"]
        if size is None or size >= n_train:
            rows = ctx.train
        else:
            idx = np.sort(np.random.default_rng(ctx.spec.seed).choice(n_train, size=size, replace=False))
            rows = take(ctx.train, idx)
        x_dev = features(model, dev, ctx)
        self._dev = (dev, x_dev)  # predict(dev) reuses these features
        self.la_ = fit_laplace(
            output_layer(model),
            features(model, rows, ctx),
            rows.labels,
            x_dev,
            dev.labels,
            hessian=self.options["hessian"],
            link=self.options["link"],
            samples=self.options["samples"],
            temperature=len(rows) / n_train,
            grid_size=self.options["grid"],
        )
        self.n_fit_, self.n_dev_ = len(rows), len(dev)
        return self

    def predict(self, model: nn.Module, loader_: Encoded, ctx: Any) -> np.ndarray:
        if self.la_ is None:
            raise RuntimeError("last-layer-laplace: call fit() before predict()")
        x = self._dev[1] if loader_ is self._dev[0] else features(model, loader_, ctx)
        probs = predictive(self.la_, x, link=self.options["link"], samples=self.options["samples"], seed=ctx.spec.seed)
        return np.log(np.clip(probs, np.finfo(np.float64).tiny, None)).astype(np.float32)

    def fitted_params(self) -> dict[str, Any]:
        if self.la_ is None:
            return {}
        from importlib.metadata import version

        return {
            "prior_precision": float(self.la_.prior_precision.reshape(-1)[0]),
            "n_hessian": self.n_fit_,
            "n_dev": self.n_dev_,
            "laplace-torch": version("laplace-torch"),
        }


def fit_laplace(
    layer: nn.Linear,
    x_train: torch.Tensor,
    y_train: np.ndarray,
    x_dev: torch.Tensor,
    y_dev: np.ndarray,
    *,
    hessian: str = "kron",
    link: str = "probit",
    samples: int = 100,
    temperature: float = 1.0,
    grid_size: int = GRID_SIZE,
) -> Any:
    """laplace-torch's last-layer Laplace on features: GGN on ``(x_train, y_train)``, then the prior
    precision minimising the predictive's NLL on ``(x_dev, y_dev)`` over ``grid_size`` values in [1e-4, 1e4]."""
    from laplace import Laplace

    net = nn.Sequential(copy.deepcopy(layer).to(torch.float64).cpu())
    la = Laplace(
        net,
        "classification",
        subset_of_weights="last_layer",
        hessian_structure=hessian,
        last_layer_name="0",
        temperature=temperature,
    )
    la.fit(loader(x_train, y_train))
    with warnings.catch_warnings():  # it reminds callers to pass the link they predict with: we do
        warnings.filterwarnings("ignore", message="By default `link_approx` is `probit`")
        la.optimize_prior_precision(
            pred_type="glm",
            method="gridsearch",
            val_loader=loader(x_dev, y_dev),
            link_approx=link,
            n_samples=samples,
            grid_size=grid_size,
        )
    return la


def predictive(la: Any, x: torch.Tensor, *, link: str = "probit", samples: int = 100, seed: int = 0) -> np.ndarray:
    """``(n, C)`` predictive probabilities of a fitted Laplace on features ``x``."""
    gen = torch.Generator().manual_seed(seed)
    out = [
        la(x[s : s + CHUNK], pred_type="glm", link_approx=link, n_samples=samples, generator=gen)
        for s in range(0, len(x), CHUNK)
    ]
    return torch.cat(out).double().numpy()
