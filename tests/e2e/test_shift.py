"""Shifted and OOD sets end to end on real GLUE slices: outputs of one training, never a second one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import softmax

from calibench import registry
from calibench.cli import main
from calibench.config import evalset_key
from calibench.methods.base import LossOutput, Recipe
from calibench.store.db import Store


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def args(tmp_path, glue_dir, tiny_bert):
    return [
        "run",
        "--methods",
        "baseline,temp-scaling",
        "--tasks",
        "rte",
        "--train-size",
        "48",
        "--max-steps",
        "6",
        "--batch-size",
        "8",
        "--seeds",
        "1",
        "--model",
        tiny_bert,
        "--data-dir",
        glue_dir,
        "--output-dir",
        str(tmp_path / "runs"),
    ]


def test_adding_a_shift_pair_predicts_from_the_kept_model(tmp_path, args, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "runs"
    assert main(args) == 0
    assert "trained 1, reused 0" in flat(capsys.readouterr().out)
    store = Store(out)
    (before,) = store.trainings()
    in_domain = {r["method"]: r for r in store.results()}

    # a shift pair added to the finished run: predictions only, from the same finetuned weights
    assert main([*args, "--shift", "rte:qnli", "--shift", "rte:wnli"]) == 0
    text = flat(capsys.readouterr().out)
    assert "trained 0, predictions only 1, reused 0" in text and "2 extra evaluation set(s)" in text
    assert "rte→qnli" in text and "rte→wnli" in text
    (after,) = store.trainings()
    assert after["record"]["train_log"] == before["record"]["train_log"]  # the training's own record stays
    assert after["record"]["added_outputs"][0]["predicted"]  # and says what was added
    assert {r["key"] for r in store.results()} == {r["key"] for r in in_domain.values()}  # in-domain untouched
    extra = store.results(eval_set="extra")
    assert sorted((r["eval_set"], r["method"]) for r in extra) == [
        ("shift-qnli", "baseline"),
        ("shift-qnli", "temp-scaling"),
        ("shift-wnli", "baseline"),
        ("shift-wnli", "temp-scaling"),
    ]
    by = {(r["eval_set"], r["method"]): r for r in extra}
    assert by[("shift-qnli", "baseline")]["n_test"] == 5463 and by[("shift-wnli", "baseline")]["n_test"] == 71
    assert by[("shift-qnli", "baseline")]["training_key"] == in_domain["baseline"]["training_key"]

    # the calibrator is the in-domain one (fitted on RTE's dev half), not refitted on the shifted rows
    ts = by[("shift-qnli", "temp-scaling")]
    assert ts["calibrator"]["params"] == in_domain["temp-scaling"]["calibrator"]["params"]
    pkey = in_domain["temp-scaling"]["prediction_key"]
    fp = {s[0]: s[2] for s in store.training(ts["training_key"])["spec"]["eval_sets"]}["shift-qnli"]
    shifted = store.artifacts.read("logits", evalset_key(pkey, "shift-qnli", fp)).arrays
    dev = store.artifacts.read("logits", pkey).arrays
    t_dev = ts["calibrator"]["params"]["temperature"]
    probs = store.artifacts.read("probs", ts["key"]).arrays["test_probs"]
    np.testing.assert_allclose(probs, softmax(shifted["logits"].astype(np.float64) / t_dev, axis=1), atol=1e-6)
    refit = registry.get("calibrator", "temp-scaling")().fit(shifted["logits"].astype(np.float64), shifted["labels"])
    assert abs(refit.fitted_params()["temperature"] - t_dev) > 1e-3  # a shift-fitted one would differ
    np.testing.assert_array_equal(
        dev["test_labels"], store.artifacts.read("probs", in_domain["baseline"]["key"]).arrays["test_labels"]
    )

    # the same command again: nothing to train, predict or score
    assert main([*args, "--shift", "rte:qnli", "--shift", "rte:wnli"]) == 0
    text = flat(capsys.readouterr().out)
    assert "trained 0, reused 1" in text and "predictions only" not in text
    assert "0 evaluation(s) computed, 6 reused" in text
    assert store.integrity_check() == []

    # the board: in- vs out-of-domain ECE and accuracy per method and pair
    assert main(["leaderboard", "-o", str(out), "--format", "markdown", "--resamples", "100"]) == 0
    board = capsys.readouterr().out
    section = board.split("## In-domain vs out-of-domain")[1].split("## Protocol")[0]
    assert "| `rte→qnli` | `temp-scaling` | 1 | 5463 |" in section and "ECE out ↓" in section
    ece_out = float(section.split("| `rte→wnli` | `baseline` |")[1].split("|")[5])
    assert ece_out == pytest.approx(by[("shift-wnli", "baseline")]["metrics"]["ece"]["value"], abs=5e-4)


class EnergyHeadCE(Recipe):
    """Cross-entropy with a scalar energy head (as ``ebm-scalar`` has), without EBM's noise model."""

    def add_heads(self, model):
        from calibench.ebm.energy import SCALAR_HEAD_KEY

        model.extra_heads[SCALAR_HEAD_KEY] = torch.nn.Linear(model.hidden_size, 1)

    def setup(self, ctx):
        self.add_heads(ctx.model)

    def loss(self, model, batch, ctx):
        out = model(**batch)
        energy = model.extra_heads["energy"](out.hidden).squeeze(-1)
        ce = torch.nn.functional.cross_entropy(out.logits.float(), batch["labels"])
        return LossOutput(ce + 0.01 * energy.float().pow(2).mean(), {"ce": float(ce.detach())})


def test_ood_scores_from_the_same_training(tmp_path, args, capsys, monkeypatch):
    from sklearn.metrics import average_precision_score, roc_auc_score

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    registry.register("recipe", "test-energy-head", EnergyHeadCE, description="test only")
    run = [*args, "--ood", "rte:sst2"]
    run[run.index("baseline,temp-scaling")] = "test-energy-head"
    assert main(run) == 0
    assert "trained 1" in flat(capsys.readouterr().out)
    store = Store(tmp_path / "runs")
    (rec,) = store.results(eval_set="ood-sst2")
    arrays = store.artifacts.read("probs", rec["key"]).arrays
    assert len(arrays["in_msp"]) == 138 and len(arrays["out_msp"]) == 872
    y = np.r_[np.ones(138), np.zeros(872)]
    for score in ("msp", "neg_energy", "neg_ebm_energy"):  # the EBM's own energy, where it has a scalar head
        s = np.r_[arrays[f"in_{score}"], arrays[f"out_{score}"]].astype(np.float64)
        assert rec["metrics"][f"ood_auroc_{score}"]["value"] == pytest.approx(roc_auc_score(y, s), abs=1e-6)
        assert rec["metrics"][f"ood_aupr_in_{score}"]["value"] == pytest.approx(average_precision_score(y, s), abs=1e-6)
    assert rec["metrics"]["ood_fpr95_msp"]["estimator"] == "ood_fpr95(score=msp,positive=in-distribution)"
    logits = store.artifacts.read("logits", rec["prediction_key"]).arrays["logits"]
    np.testing.assert_allclose(
        arrays["out_neg_energy"], np.logaddexp.reduce(logits.astype(np.float64), axis=1), rtol=1e-5
    )


def test_a_custom_task_trains_and_is_shifted_to_a_file(tmp_path, tiny_bert, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    words = ["good", "great", "fine", "bad", "awful", "poor"]
    rows = [(f"{w} film number {i}", "pos" if w in words[:3] else "neg") for i in range(8) for w in words]
    (tmp_path / "train.csv").write_text("review,stars\n" + "".join(f"{t},{s}\n" for t, s in rows))
    (tmp_path / "dev.jsonl").write_text("".join(f'{{"review": "{t}", "stars": "{s}"}}\n' for t, s in rows[:20]))
    (tmp_path / "other.csv").write_text(
        "body,y\n" + "".join(f"{t} elsewhere,{int(s == 'pos')}\n" for t, s in rows[:30])
    )
    definition = (
        f"reviews=files(train={tmp_path / 'train.csv'},validation={tmp_path / 'dev.jsonl'},text=review,"
        "label=stars,labels=neg;pos)"
    )
    shift = f"reviews:file(path={tmp_path / 'other.csv'},fields=body,label=y,labels=0:neg;1:pos)"
    run = [
        "run",
        "--methods",
        "baseline,temp-scaling",
        "--task-def",
        definition,
        "--tasks",
        "reviews",
        "--shift",
        shift,
        "--max-steps",
        "4",
        "--batch-size",
        "8",
        "--seeds",
        "1",
        "--train-size",
        "40",
        "--model",
        tiny_bert,
        "--output-dir",
        str(tmp_path / "runs"),
    ]
    assert main(run) == 0
    assert "trained 1" in flat(capsys.readouterr().out)
    store = Store(tmp_path / "runs")
    assert {r["n_test"] for r in store.results()} == {10}  # the second half of 20 validation rows
    extra = store.results(eval_set="shift-other")
    assert len(extra) == 2 and {r["n_test"] for r in extra} == {30} and extra[0]["pair"] == "reviews→other"


def test_an_ensemble_is_scored_on_its_members_predictions_of_a_shifted_set(tmp_path, args, capsys, monkeypatch):
    """Each member training predicts the shifted set; the ensemble's shift result calibrates the
    members' combined logits (log mean softmax) with a calibrator fitted on the combined in-domain dev half."""
    from calibench.methods.ensemble import combine_logits

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    method = "ensemble(members=2)+temp-scaling"
    argv = [*args, "--shift", "rte:wnli"]
    argv[argv.index("--methods") + 1] = method
    assert main(argv) == 0
    assert "trained 2, reused 0" in flat(capsys.readouterr().out)
    store = Store(tmp_path / "runs")
    (rec,) = [r for r in store.results(eval_set="extra") if r["method"] == method]
    assert rec["eval_kind"] == "shift" and len(rec["members"]) == 2
    members = [store.artifacts.read("logits", m["prediction_key"]).arrays for m in rec["members"]]
    shifted = [
        store.artifacts.read(
            "logits", evalset_key(m["prediction_key"], rec["eval_set"], rec["eval_set_fingerprint"])
        ).arrays
        for m in rec["members"]
    ]
    dev = combine_logits([m["dev_logits"] for m in members])
    cal = registry.create("calibrator", "temp-scaling").fit(dev, members[0]["dev_labels"])
    want = cal.predict_proba(combine_logits([s["logits"] for s in shifted]))
    got = store.artifacts.read("probs", rec["key"]).arrays
    np.testing.assert_allclose(got["test_probs"], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got["test_labels"], shifted[0]["labels"])
