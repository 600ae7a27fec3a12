"""Deep ensembles (Lakshminarayanan et al. 2017; Ovadia et al. 2019): the mean predicted
probability of M trainings of one recipe that differ only in their seed.

Grammar. ``ensemble(members=M)`` takes the *inference* slot of ``recipe[+inference][+calibrator]``:
``ensemble(members=3)`` ensembles the baseline, ``ebm-hidden+ensemble(members=3)+temp-scaling``
ensembles EBM and fits the temperature on the ensemble's dev-half prediction. The members'
own inference procedure is the option ``inference`` (default ``deterministic``, e.g.
``ensemble(members=3,inference=mc-dropout(passes=5))``).

Why in the core, not ``baselines/``. An inference procedure of the plugin API sees one
trained model; an ensemble needs M trainings, which only the planner can ask for (and
share with the other methods of a run). So the planner expands it into member trainings,
and the evaluation combines their stored predictions; nothing else changes.

Member seeds. Member ``j`` of run seed ``s`` trains with seed ``s + MEMBER_SEED_STRIDE * j``.
Member 0 is therefore the plain training of seed ``s`` (the planner reuses the one that
``baseline`` or ``temp-scaling`` of the same run already needs), and the members of two
run seeds never overlap as long as run seeds are below the stride (checked): every run
seed's ensemble is an independent draw, so intervals and paired tests across seeds stay
valid, and the pairing with other methods is by run seed like theirs.

Combination. The log of the members' mean softmax, ``logsumexp_m log_softmax(z_m) - log M``:
a valid logit vector whose softmax is the ensemble's mean probability, exactly as MC
dropout returns its passes, so every calibrator composes with it.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from scipy.special import log_softmax, logsumexp

from calibench.errors import OptionError
from calibench.methods.base import Inference

#: member j of run seed s trains with seed s + MEMBER_SEED_STRIDE * j; run seeds must be below it
MEMBER_SEED_STRIDE = 1_000_000
MAX_MEMBERS = 1000


def member_seed(run_seed: int, member: int) -> int:
    """The training seed of member ``member`` of run seed ``run_seed`` (member 0 is the run seed)."""
    if not 0 <= run_seed < MEMBER_SEED_STRIDE:
        raise OptionError(
            f"ensembles need run seeds in 0..{MEMBER_SEED_STRIDE - 1} (got {run_seed}), so that the "
            f"members of different seeds never overlap; pick smaller --seeds"
        )
    return run_seed + MEMBER_SEED_STRIDE * member


class Ensemble(Inference):
    """Mean probability of M trainings with distinct seeds (member 0 is the run seed's own training).

    An :class:`Inference` so that it takes the inference slot like any other; the planner
    recognises it and asks each member training for the members' inference procedure, and
    :func:`combine_predictions` averages what they return.
    """

    defaults: ClassVar[dict[str, Any]] = {"members": 5, "inference": "deterministic"}

    def __init__(self, **options: Any) -> None:
        from calibench.methods.compose import parse_part

        super().__init__(**options)
        m = self.options["members"]
        if not isinstance(m, int) or isinstance(m, bool) or not 1 <= m <= MAX_MEMBERS:
            raise OptionError(f"ensemble: members must be an integer in 1..{MAX_MEMBERS} (got {m!r})")
        part = parse_part(str(self.options["inference"]), f"ensemble(inference={self.options['inference']})")
        if part.name == "ensemble":
            raise OptionError("ensemble: the members' inference cannot itself be an ensemble")
        #: the members' inference procedure, resolved (its options validated and filled in)
        self.member_inference = part.instantiate("inference")
        self.member_inference_name = part.name
        self.options["inference"] = str(part)

    def member_seeds(self, run_seed: int) -> list[int]:
        return [member_seed(run_seed, j) for j in range(self.options["members"])]

    def predict(self, model: Any, loader: Any, ctx: Any) -> np.ndarray:
        """One member's logits: the members' inference procedure on that member's model. (The
        planner stores them under that procedure's own key, so ``baseline`` shares member 0's.)"""
        return self.member_inference.predict(model, loader, ctx)


def combine_logits(member_logits: list[np.ndarray]) -> np.ndarray:
    """``log mean_m softmax(z_m)`` over members, ``(n, C)`` float64."""
    stacked = log_softmax(np.stack([np.asarray(z, dtype=np.float64) for z in member_logits]), axis=-1)
    return logsumexp(stacked, axis=0) - math.log(len(member_logits))


def combine_predictions(members: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One prediction's arrays (``{split}_logits``, ``{split}_labels``) from the members' arrays,
    for every split all members have; their labels must agree (same data, same order)."""
    splits = [k[: -len("_logits")] for k in members[0] if k.endswith("_logits") and all(k in m for m in members)]
    out: dict[str, np.ndarray] = {}
    for split in splits:
        labels = members[0][f"{split}_labels"]
        if any(not np.array_equal(m[f"{split}_labels"], labels) for m in members[1:]):
            raise ValueError(f"ensemble members disagree on the {split} labels: they were not trained on the same data")
        out[f"{split}_logits"] = combine_logits([m[f"{split}_logits"] for m in members])
        out[f"{split}_labels"] = labels
    return out
