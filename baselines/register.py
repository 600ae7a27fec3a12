"""Entry-point module: registering costs nothing (string targets, imported on first use)."""

from calibench.registry import register

register("calibrator", "temp-scaling", "baselines.temperature:TemperatureScaling",
         description="one temperature fitted by NLL (L-BFGS on log T) on the dev half; fit_on=train, objective=ece-grid")
