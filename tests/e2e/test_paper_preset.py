"""The `paper` preset end to end, offline: tiny RoBERTa / GPT-2 checkpoints stand in for
roberta-base and gpt2 (audit item 2.10). Everything else is the preset's own configuration."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from _paper_checkpoints import build_tiny_gpt2, build_tiny_roberta

from calibench.cli import main
from calibench.store.db import Store


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, glue_dir):
    table = pq.read_table(f"{glue_dir}/rte/train.parquet").slice(0, 300)
    texts = table.column("sentence1").to_pylist() + table.column("sentence2").to_pylist()
    root = tmp_path_factory.mktemp("paper-ckpt")
    return build_tiny_roberta(root / "roberta", texts), build_tiny_gpt2(root / "gpt2", texts)


def test_tiny_checkpoints_take_the_paper_code_paths(checkpoints):
    from transformers import AutoTokenizer

    roberta, gpt2 = (AutoTokenizer.from_pretrained(p) for p in checkpoints)
    enc = roberta("A premise.", "A hypothesis.")
    assert "token_type_ids" not in enc or set(enc["token_type_ids"]) == {0}
    assert roberta("Paris")["input_ids"] != roberta("paris")["input_ids"]  # cased BPE
    assert roberta.get_vocab() != gpt2.get_vocab()  # the noise LM's tokenizer is not the classifier's


def _run(out: str, checkpoints, glue_dir: str, task: str, methods: str) -> None:
    args = [
        "run",
        "--preset",
        "paper",
        "--model",
        checkpoints[0],
        "--methods",
        methods,
        "--tasks",
        task,
        "--seeds",
        "1",
        "--train-size",
        "24",
        "--max-steps",
        "3",
        "--batch-size",
        "8",
        "--precision",
        "fp32",
        "--device",
        "cpu",
        "--data-dir",
        glue_dir,
        "--output-dir",
        out,
    ]
    assert main(args) == 0


def test_paper_preset_runs_offline_with_ebm_and_temperature(tmp_path, glue_dir, checkpoints):
    """RTE (pairs through RoBERTa's BPE, no token type ids) for the baseline and the paper's
    temperature grid; SST-2 for EBM with a GPT-2 noise LM whose tokenizer is not the classifier's
    (a random GPT-2 would never keep a pair separator, so its noise corpus is single-sentence)."""
    out = str(tmp_path / "runs")
    _run(out, checkpoints, glue_dir, "rte", "baseline,temp-scaling(objective=ece-grid)")
    ebm = f"ebm-hidden(noise_lm='{checkpoints[1]}',noise_epochs=1,noise_samples=24)"
    _run(out, checkpoints, glue_dir, "sst2", f"{ebm},{ebm}+temp-scaling")
    store = Store(out)
    rows = store.results()
    assert {(r["task"], r["method"]) for r in rows} == {
        ("rte", "baseline"),
        ("rte", "temp-scaling(objective=ece-grid)"),
        ("sst2", ebm),
        ("sst2", f"{ebm}+temp-scaling"),
    }
    specs = {t["spec"]["recipe"]: t["spec"] for t in store.trainings()}
    assert len(store.trainings()) == 2  # each recipe trains once for both of its methods
    ebm_opts = specs["ebm-hidden"]["recipe_options"]
    assert ebm_opts["k"] == 8 and ebm_opts["max_noise_samples"] == 2_000_000  # the preset's EBM options
    assert specs["baseline"]["hyper"]["lr"] == 2e-5 and specs["baseline"]["model"] == checkpoints[0]
    for r in rows:
        assert all(v["value"] == v["value"] for v in r["metrics"].values())  # no NaN anywhere
