"""Entry-point module: registering costs nothing (string targets, imported on first use).

calibench finds this module through the ``calibench.methods`` entry point in pyproject.toml,
exactly as it finds a third party's plugin, so ``calibench ls`` never imports torch or
netcal for these methods.
"""

from calibench.registry import register

# recipes: how the model is trained (their options enter the training's identity)
register(
    "recipe",
    "label-smoothing",
    "baselines.label_smoothing:LabelSmoothing",
    library="torch",
    description="CE against smoothed targets: alpha=0.1, spread=others (Desai & Durrett 2020) or all (torch's)",
)
register(
    "recipe",
    "focal-loss",
    "baselines.focal_loss:FocalLoss",
    library="torch",
    description="focal loss, gamma=flsd-53 (5 where p_y<0.2, else 3) or a fixed gamma (Mukhoti et al. 2020)",
)
register(
    "recipe",
    "mixup",
    "baselines.mixup:Mixup",
    description="mixup on the pooled first-token state, lambda~Beta(0.4,0.4); on=embeddings mixes word embeddings",
)
register(
    "recipe",
    "lora",
    "baselines.lora:LoRA",
    description="LoRA adapters (lora_r=8 on query|value, alpha=r, lr 5e-4) + head, encoder frozen; "
    "any recipe takes lora_r=... too",
    library="peft",
)

# inference procedures: trained model -> logits
register(
    "inference",
    "mc-dropout",
    "baselines.mc_dropout:MCDropout",
    description="MC dropout: log of the mean softmax over passes=10 dropout-on passes (attention dropout too)",
)
register(
    "inference",
    "last-layer-laplace",
    "baselines.last_layer_laplace:LastLayerLaplace",
    library="laplace-torch",
    description="Laplace on the head's output layer: hessian=kron|diag on train (fit_size=N subsample), "
    "prior precision by dev-half NLL, link=probit|mc",
)

# post-hoc calibrators: fit(logits, labels) on the dev half (fit_on=train: the training set)
register(
    "calibrator",
    "temp-scaling",
    "baselines.temperature:TemperatureScaling",
    library="scipy",
    description="one temperature fitted by NLL (L-BFGS on log T) on the dev half; fit_on=train, objective=ece-grid (the reference's 13-value grid by the paper's ECE)",
)
register(
    "calibrator",
    "vector-scaling",
    "baselines.netcal_calibrators:VectorScaling",
    library="netcal",
    description="netcal: per-class weight and bias by maximum likelihood (Platt scaling when binary)",
)
register(
    "calibrator",
    "histogram-binning",
    "baselines.netcal_calibrators:HistogramBinning",
    library="netcal",
    description="netcal: equal-width histogram binning (bins=10), one-vs-all",
)
register(
    "calibrator",
    "isotonic",
    "baselines.netcal_calibrators:IsotonicRegression",
    library="netcal",
    description="netcal: isotonic regression, one-vs-all",
)
register(
    "calibrator",
    "bbq",
    "baselines.netcal_calibrators:BBQ",
    library="netcal",
    description="netcal: Bayesian binning into quantiles (score=BIC), one-vs-all",
)
register(
    "calibrator",
    "enir",
    "baselines.netcal_calibrators:ENIR",
    library="netcal",
    description="netcal: ensemble of near-isotonic regressions (score=BIC), one-vs-all",
)
register(
    "calibrator",
    "beta-calibration",
    "baselines.netcal_calibrators:BetaCalibration",
    library="netcal",
    description="netcal: beta calibration by maximum likelihood; binary tasks only",
)
