"""What is wrong with a results store, and what a rerun of its command will recompute.

``calibench check -o STORE`` prints these. A rerun heals every problem listed with a
remedy: a result whose probabilities are missing or fail their checksum is recalibrated
from its logits, and a training whose logits are is trained again (its results are then
recomputed too); see :func:`calibench.execution.local.training_complete`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from calibench.store.artifacts import LOGITS, PROBS

if TYPE_CHECKING:
    from calibench.store.db import Store


@dataclass(frozen=True)
class Problem:
    """One thing wrong (``what``) and what fixes it (``remedy``)."""

    what: str
    remedy: str

    def __str__(self) -> str:
        return f"{self.what}: {self.remedy}" if self.remedy else self.what


def _training_name(spec: dict | None, key: str) -> str:
    if not spec:
        return f"training {key}"
    return f"training {spec.get('data', {}).get('task', '?')} {spec.get('recipe', '?')} seed {spec.get('seed', '?')} ({key})"


def check_store(store: Store) -> list[Problem]:
    """SQLite's own check, half-written rows, and every artifact the rows point at."""
    problems: list[Problem] = []
    rerun = "a rerun of its `calibench run` command"
    with store._conn() as c:
        ok = c.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            problems.append(
                Problem(f"sqlite: {ok}", f"rebuild the database: `calibench check -o {store.root} --rebuild`")
            )
        trainings = {r["key"]: r for r in c.execute("SELECT key, spec FROM trainings").fetchall()}
        predictions = c.execute("SELECT key, training_key FROM predictions").fetchall()
        results = c.execute("SELECT key, task, method, seed, prediction_key FROM results").fetchall()
        half_done = c.execute(
            "SELECT key FROM trainings t WHERE status='done' AND (record IS NULL OR NOT EXISTS "
            "(SELECT 1 FROM predictions p WHERE p.training_key=t.key))"
        ).fetchall()

    def spec_of(key: str) -> dict | None:
        row = trainings.get(key)
        return json.loads(row["spec"]) if row is not None and row["spec"] else None

    broken_logits = set()
    for r in predictions:
        if r["training_key"] not in trainings:
            problems.append(Problem(f"prediction {r['key']}: its training row is missing", f"{rerun} trains it again"))
            continue
        damage = store.artifacts.damage(LOGITS, r["key"])
        if damage is not None:
            broken_logits.add(r["key"])
            problems.append(
                Problem(
                    f"{_training_name(spec_of(r['training_key']), r['training_key'])}: logits {r['key']} {damage}",
                    f"{rerun} predicts it again from the kept model (or trains it again "
                    "without one) and recomputes its results",
                )
            )
    for r in half_done:
        problems.append(
            Problem(f"training {r['key']}: done without its record or predictions", f"{rerun} trains it again")
        )
    for r in results:
        damage = store.artifacts.damage(PROBS, r["key"])
        if damage is None:
            continue
        how = (
            "recomputes it after retraining"
            if r["prediction_key"] in broken_logits
            else "recalibrates it from the stored logits"
        )
        problems.append(
            Problem(
                f"result {r['task']}/{r['method']}/seed {r['seed']} ({r['key']}): test probabilities {damage}",
                f"{rerun} {how}",
            )
        )
    return problems
