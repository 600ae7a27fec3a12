"""calibench's own registrations, loaded through its ``calibench.builtin`` entry point.

Methods by string target (nothing heavy is imported here); tasks and metrics as the light
objects they are (plain data and numpy functions), so each is described in one place.
"""

from calibench.metrics.specs import BUILTIN as _METRICS
from calibench.registry import register
from calibench.tasks.glue import GLUE_TASKS

register("recipe", "baseline", "calibench.methods.cross_entropy:CrossEntropy",
         description="plain finetuning with cross-entropy", library="torch")
register("inference", "deterministic", "calibench.methods.inference:Deterministic",
         description="one forward pass, dropout off")

for _energy, _cls in (("scalar", "EBMScalar"), ("hidden", "EBMHidden"), ("sharp-hidden", "EBMSharpHidden")):
    register("recipe", f"ebm-{_energy}", f"calibench.ebm.recipe:{_cls}",
             description=f"joint EBM finetuning (NCE vs an auto-regressive noise model), {_energy} energy")

for _task in GLUE_TASKS.values():
    register("task", _task.name, _task, description=_task.description)

for _metric in _METRICS:
    register("metric", _metric.name, _metric, description=_metric.description)
