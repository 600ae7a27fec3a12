"""Registry entries for the built-in metrics (lazy: nothing is imported until used).

Each entry resolves to a :class:`calibench.metrics.specs.MetricSpec` at default parameters;
``calibench.metrics.metric_spec(key, **params)`` gives other parameters.
"""

from calibench.registry import register

register(
    "metric",
    "accuracy",
    "calibench.metrics.specs:ACCURACY",
    description="accuracy of the arg-max prediction",
    estimator="accuracy",
)
register(
    "metric",
    "mcc",
    "calibench.metrics.specs:MCC",
    description="Matthews correlation coefficient (CoLA)",
    estimator="mcc",
)
register(
    "metric",
    "f1",
    "calibench.metrics.specs:F1",
    description="F1 of the positive class, label 1 (MRPC, QQP)",
    estimator="f1(pos_label=1)",
)
register(
    "metric",
    "nll",
    "calibench.metrics.specs:NLL",
    description="mean negative log-likelihood (true-class probability clipped at 1e-12)",
    estimator="nll(eps=1e-12)",
)
register(
    "metric",
    "brier",
    "calibench.metrics.specs:BRIER",
    description="multiclass Brier score (squared error summed over classes)",
    estimator="brier(form=multiclass-sum)",
)
register(
    "metric",
    "ece",
    "calibench.metrics.specs:ECE",
    description="top-label ECE, 15 equal-width bins",
    estimator="ece(bins=15,scheme=width,norm=l1,confidence=top-label)",
)
register(
    "metric",
    "ece_classwise",
    "calibench.metrics.specs:ECE_CLASSWISE",
    description="classwise ECE as the EBM paper: 20 equal-width bins per class, class mean",
    estimator="ece(bins=20,scheme=width,norm=l1,confidence=classwise)",
)
register(
    "metric",
    "ece_adaptive",
    "calibench.metrics.specs:ECE_ADAPTIVE",
    description="top-label ECE, 15 equal-mass (adaptive) bins",
    estimator="ece(bins=15,scheme=mass,norm=l1,confidence=top-label)",
)
register(
    "metric",
    "mce",
    "calibench.metrics.specs:MCE",
    description="maximum calibration error, top-label, 15 equal-width bins",
    estimator="mce(bins=15,scheme=width,confidence=top-label)",
)
