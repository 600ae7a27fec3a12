"""calibench's own registrations (string targets: nothing heavy is imported here)."""

from calibench.registry import register

register("recipe", "baseline", "calibench.methods.cross_entropy:CrossEntropy",
         description="plain finetuning with cross-entropy")
register("inference", "deterministic", "calibench.methods.inference:Deterministic",
         description="one forward pass, dropout off")
# in the core, not baselines/: an ensemble needs several trainings, which only the planner can ask for
register("inference", "ensemble", "calibench.methods.ensemble:Ensemble",
         description="deep ensemble: mean probability of members=5 trainings with distinct seeds "
                     "(member j of seed s trains with seed s + 1000000*j)", library="calibench")

import calibench.tasks.register  # noqa: E402,F401  (the GLUE tasks)
import calibench.metrics.register  # noqa: E402,F401  (metrics)

for _energy, _cls in (("scalar", "EBMScalar"), ("hidden", "EBMHidden"), ("sharp-hidden", "EBMSharpHidden")):
    register("recipe", f"ebm-{_energy}", f"calibench.ebm.recipe:{_cls}",
             description=f"joint EBM finetuning (NCE vs an auto-regressive noise model), {_energy} energy")
