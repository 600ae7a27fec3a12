"""Flag names of the command line, defined once.

The parser (:mod:`calibench.cli`) adds them and the reproduction commands that a
leaderboard or report prints (:mod:`calibench.report.provenance`, :mod:`calibench.api`)
write them, so a renamed flag cannot leave a stale command behind. One flag means one
thing in every subcommand: ``-o`` is always the results store; what a command writes
(a markdown file, a report folder, exported results) is ``--output``.
"""

from __future__ import annotations

#: the results store, in every command that reads or writes one (first = the form commands write)
STORE: tuple[str, ...] = ("-o", "--output-dir", "--store")
#: exported results to read instead of a store
FROM = "--from"
#: what the command writes: the leaderboard's file, the report's folder, the export's folder
OUTPUT = "--output"
#: the leaderboard's headline, spliced into another markdown file's marked block (the README)
ANSWER_INTO = "--answer-into"

#: leaderboard options: field of LeaderboardOptions -> flag
BOARD: dict[str, str] = {
    "layout": "--layout",
    "metrics": "--metric",
    "reference": "--reference",
    "alpha": "--alpha",
    "confidence": "--confidence",
    "n_resamples": "--resamples",
    "seed": "--bootstrap-seed",
    "ci": "--ci",
    "test": "--paired-test",  # not --test: `calibench score --test FILE` names a logits file
    "incomplete_seeds": "--incomplete-seeds",
}

#: the selection of results a leaderboard, report or export shows
SELECT: dict[str, str] = {"tasks": "--tasks", "methods": "--methods", "model": "--model"}

#: hyper-parameters ``calibench run`` sets from flags: field of Hyper -> flag
HYPER: dict[str, str] = {
    "epochs": "--epochs",
    "max_steps": "--max-steps",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "precision": "--precision",
    "max_length": "--max-length",
}

#: the rest of what a ``calibench run`` command line names
RUN: dict[str, str] = {
    "preset": "--preset",
    "methods": "--methods",
    "tasks": "--tasks",
    "seeds": "--seeds",
    "model": "--model",
    "train_size": "--train-size",
    "full_train": "--full-train",
    "data_seed": "--data-seed",
    "ece_bins": "--ece-bins",
}
