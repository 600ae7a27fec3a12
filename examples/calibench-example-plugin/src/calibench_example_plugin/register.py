"""The entry-point module: register by string target, so listing methods imports nothing heavy."""

from calibench.registry import register

register("recipe", "focal-loss", "calibench_example_plugin.focal:FocalLoss",
         description="focal loss, gamma=3 (Mukhoti et al. 2020)")
