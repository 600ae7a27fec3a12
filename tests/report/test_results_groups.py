"""`calibench results` pools only comparable numbers: same encoder, data fingerprint and estimators."""

from __future__ import annotations

from rich.console import Console

from calibench.report.tables import comparable_groups, results_table, to_frame


def _rec(seed: int, fingerprint: str = "fp-a", bins: int = 15, ece: float = 0.1, model: str = "minilm") -> dict:
    est = f"ece(bins={bins},scheme=width,norm=l1,confidence=top-label)"
    return {
        "task": "sst2",
        "method": "baseline",
        "seed": seed,
        "model": model,
        "fingerprint": fingerprint,
        "metrics": {
            "accuracy": {"value": 0.8, "estimator": "accuracy"},
            "ece": {"value": ece, "estimator": est},
            "nll": {"value": 0.5, "estimator": "nll"},
            "brier": {"value": 0.3, "estimator": "brier"},
        },
    }


def _text(records: list[dict]) -> str:
    console = Console(width=200, record=True)
    console.print(results_table(records))
    return console.export_text()


def test_runs_on_different_data_are_not_averaged_as_seeds():
    records = [_rec(0, "fp-aaaaaaaaaa"), _rec(1, "fp-bbbbbbbbbb"), _rec(2, "fp-cccccccccc")]
    labels, notes = comparable_groups(records)
    assert len(set(labels.values())) == 3 and notes and "different data fingerprints" in notes[0]
    df = to_frame(records)
    assert df.groupby(["task", "method", "group"]).size().tolist() == [1, 1, 1]
    text = _text(records)
    assert "baseline [data fp-aaaaaaa" in text and "baseline [data fp-bbbbbbb" in text


def test_results_with_different_ece_bins_are_shown_apart():
    records = [_rec(0, bins=15, ece=0.1), _rec(1, bins=15, ece=0.12), _rec(0, bins=10, ece=0.3)]
    labels, notes = comparable_groups(records)
    assert labels[0] == labels[1] != labels[2] and "different estimators of ece" in notes[0]
    text = _text(records)
    assert "ece(bins=10" in text and "ece(bins=15" in text
    # the two 15-bin seeds are pooled (n=2), the 10-bin one stands alone
    summ = to_frame(records).groupby("group").size().to_dict()
    assert sorted(summ.values()) == [1, 2]


def test_comparable_results_keep_one_row():
    records = [_rec(0), _rec(1), _rec(2)]
    labels, notes = comparable_groups(records)
    assert set(labels.values()) == {""} and notes == []
    assert "n=3" not in _text(records) and " 3 " in _text(records)
