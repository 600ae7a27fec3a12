"""The entry-point module: register by string target, so listing methods imports nothing heavy."""

from calibench.registry import register

register(
    "recipe",
    "confidence-penalty",
    "calibench_example_plugin.confidence_penalty:ConfidencePenalty",
    description="cross-entropy minus beta=0.1 times the prediction's entropy (Pereyra et al. 2017)",
)
