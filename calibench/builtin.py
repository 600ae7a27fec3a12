"""calibench's own registrations, loaded through its ``calibench.builtin`` entry point.

Methods by string target (nothing heavy is imported here); tasks and metrics as the light
objects they are (plain data and numpy functions), so each is described in one place.
"""

from calibench.ebm import ENERGY_NAMES
from calibench.metrics.specs import BUILTIN as _METRICS
from calibench.registry import register, register_alias
from calibench.tasks.glue import GLUE_TASKS

register(
    "recipe",
    "baseline",
    "calibench.methods.cross_entropy:CrossEntropy",
    description="plain finetuning with cross-entropy",
    library="torch",
)
register(
    "inference",
    "deterministic",
    "calibench.methods.inference:Deterministic",
    description="one forward pass, dropout off",
)
# in the core, not baselines/: an ensemble needs several trainings, which only the planner can ask for
register(
    "inference",
    "ensemble",
    "calibench.methods.ensemble:Ensemble",
    description="deep ensemble: mean probability of members=5 trainings with distinct seeds "
    "(member j of seed s trains with seed s + 1000000*j)",
    library="calibench",
)

register(
    "recipe",
    "ebm",
    "calibench.ebm.recipe:EBMRecipe",
    description="joint EBM finetuning (NCE vs an auto-regressive noise model); energy=scalar|hidden|sharp-hidden",
)
for _energy in ENERGY_NAMES:  # kept names: ebm-hidden is ebm(energy=hidden)
    register_alias(
        "recipe",
        f"ebm-{_energy}",
        "ebm",
        energy=_energy,
        description=f"joint EBM finetuning, {_energy} energy (= ebm(energy={_energy}))",
    )

for _task in GLUE_TASKS.values():
    register("task", _task.name, _task, description=_task.description)

for _metric in _METRICS:
    register("metric", _metric.name, _metric, description=_metric.description)
