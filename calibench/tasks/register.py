"""Registry entries for the built-in GLUE tasks.

Targets are lazy ``"module:attr"`` strings so importing this module (done at CLI start-up)
stays cheap: the spec module is only imported when a task is looked up.
"""

from __future__ import annotations

from calibench.registry import register

_GLUE: tuple[tuple[str, str, str], ...] = (
    ("cola", "COLA", "CoLA: grammatical acceptability, single sentence, Matthews corr."),
    ("sst2", "SST2", "SST-2: binary sentiment, single sentence, accuracy."),
    ("mrpc", "MRPC", "MRPC: paraphrase, sentence pair, F1 and accuracy."),
    ("qqp", "QQP", "QQP: duplicate questions, sentence pair, F1 and accuracy."),
    ("mnli", "MNLI", "MNLI (matched): 3-way NLI, sentence pair, accuracy."),
    ("qnli", "QNLI", "QNLI: question/sentence entailment, sentence pair, accuracy."),
    ("rte", "RTE", "RTE: binary entailment, sentence pair, accuracy."),
    ("wnli", "WNLI", "WNLI: Winograd NLI, sentence pair, accuracy."),
)

for _name, _attr, _description in _GLUE:
    register("task", _name, f"calibench.tasks.glue:{_attr}", description=_description)
