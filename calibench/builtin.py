"""calibench's own registrations (string targets: nothing heavy is imported here)."""

from calibench.registry import register

register("recipe", "baseline", "calibench.methods.cross_entropy:CrossEntropy",
         description="plain finetuning with cross-entropy", library="torch")
register("inference", "deterministic", "calibench.methods.inference:Deterministic",
         description="one forward pass, dropout off")

import calibench.tasks.register  # noqa: E402,F401  (the GLUE tasks)
import calibench.metrics.register  # noqa: E402,F401  (metrics)

for _energy, _cls in (("scalar", "EBMScalar"), ("hidden", "EBMHidden"), ("sharp-hidden", "EBMSharpHidden")):
    register("recipe", f"ebm-{_energy}", f"calibench.ebm.recipe:{_cls}",
             description=f"joint EBM finetuning (NCE vs an auto-regressive noise model), {_energy} energy")
