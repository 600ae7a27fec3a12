"""Same seed, same logits: the training loop (and its CPU fast path) is reproducible.

Uses a tiny randomly initialised BERT (the MiniLM tokenizer's files beside it), so each
training takes well under a second.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from calibench.config import DataSpec, Hyper, TrainingSpec
from calibench.execution.jobs import seed_everything
from calibench.methods.cross_entropy import CrossEntropy
from calibench.methods.inference import predict_logits
from calibench.models.classifier import Classifier
from calibench.models.encoders import load_encoder_and_tokenizer
from calibench.training.batching import encode_texts
from calibench.training.context import TrainContext
from calibench.training.loop import train
from calibench.training.precision import autocast_factory

TEXTS = [
    "a charming and often affecting journey",
    "unflinchingly bleak and desperate",
    "allows us to hope that nolan is poised to embark a major career",
    "the acting , costumes , music",
    "it 's slow -- very , very slow",
    "a sometimes tedious film",
    "or doing last year 's taxes with your ex-wife",
    "you do n't have to know about music to appreciate the film 's easygoing blend of comedy and romance",
    "in exactly 89 minutes , most of which passed as slowly as if i 'd been sitting naked on an igloo",
    "the mesmerizing performances of the leads keep the film grounded",
    "it takes a strange kind of laziness",
    "a fascinating and fun film",
    "this is a film well worth seeing",
    "it 's a mess",
    "loud , silly , stupid",
    "a gorgeous , witty , seductive movie",
    "too slow , too long and too little happens",
    "the year 's best and most unpredictable comedy",
    "what a great way to spend 4 hours",
    "the movie is n't just hilarious",
    "a dull , simple-minded and stereotypical tale",
]
LABELS = [1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0]


def run(
    path: str,
    seed: int = 0,
    precision: str = "bf16",
    fast_path: bool | None = None,
    dropout: float | None = None,
    steps: int = 6,
):
    """Train a fresh model for ``steps`` steps; return (dev logits, final parameters)."""
    seed_everything(seed)
    encoder, tokenizer = load_encoder_and_tokenizer(path)
    model = Classifier(encoder, 2)
    if dropout is not None:  # every dropout, attention probabilities' included (it holds their p)
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = dropout
    hyper = Hyper(
        lr=1e-3, batch_size=4, max_steps=steps, warmup_steps=1, max_length=32, precision=precision, eval_batch_size=8
    )
    spec = TrainingSpec(data=DataSpec("sst2"), recipe="baseline", seed=seed, hyper=hyper)
    dev = torch.device("cpu")
    enc = encode_texts(tokenizer, [(t,) for t in TEXTS], LABELS, hyper.max_length)
    ctx = TrainContext(
        spec=spec,
        task=None,
        model=model,
        tokenizer=tokenizer,
        train=enc,
        train_texts=[(t,) for t in TEXTS],
        dev_texts=[],
        device=dev,
        autocast=autocast_factory(precision, dev),
        rng=np.random.default_rng(seed),
    )
    log = train(ctx, CrossEntropy(), fast_path=fast_path)
    assert log.steps == steps and np.isfinite(log.history[-1]["loss"])
    logits = predict_logits(model, enc, ctx)
    return logits, {k: v.detach().clone() for k, v in model.state_dict().items()}, model


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
@pytest.mark.parametrize("fast_path", [True, False])
def test_same_seed_same_logits(tiny_bert, precision, fast_path):
    a, _, _ = run(tiny_bert, precision=precision, fast_path=fast_path)
    b, _, _ = run(tiny_bert, precision=precision, fast_path=fast_path)
    assert np.array_equal(a, b)
    c, _, _ = run(tiny_bert, seed=1, precision=precision, fast_path=fast_path)
    assert not np.array_equal(a, c)  # and the seed matters (dropout, head init, batch order)


def test_fast_path_is_the_same_optimisation(tiny_bert):
    """With dropout off (the only stream the fast path draws differently), the fast path takes
    the same steps as the standard one: same dense AdamW update of every row of the embedding,
    same clipping. Equal up to float summation order."""
    a, pa, _ = run(tiny_bert, precision="fp32", fast_path=True, dropout=0.0)
    b, pb, _ = run(tiny_bert, precision="fp32", fast_path=False, dropout=0.0)
    for k in pa:
        if k.endswith("attention.self.key.bias"):
            continue  # its gradient is 0 up to rounding (softmax ignores a per-query shift): Adam amplifies noise
        torch.testing.assert_close(pa[k], pb[k], rtol=1e-5, atol=1e-6, msg=k)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # rows of the word embedding never seen still moved (weight decay + Adam momentum of
    # the dense update), exactly as in the standard loop: no lazy/sparse update semantics
    init = load_encoder_and_tokenizer(tiny_bert)[0].get_input_embeddings().weight
    assert not torch.equal(pa["encoder.embeddings.word_embeddings.weight"][-1], init[-1])  # row in no text


def test_fast_path_leaves_the_model_as_it_was(tiny_bert):
    _, _, model = run(tiny_bert, fast_path=True)
    emb = model.encoder.get_input_embeddings()
    assert emb.sparse is False and emb.weight.grad is None
    assert model.encoder.config._attn_implementation == "sdpa"  # inference gets SDPA's fused kernel
    for m in model.modules():
        assert "forward" not in vars(m)  # no patched dropout left behind
        assert "_calibench_rng" not in vars(m)


@pytest.mark.parametrize("fast_path", [True, False])
def test_attention_dropout_draws_from_the_fast_paths_stream(tiny_bert, monkeypatch, fast_path):
    from calibench.training import cpu_kernels

    calls = []
    real = cpu_kernels.attention_with_dropout

    def counted(*args):
        calls.append(args[5])  # the dropout probability
        return real(*args)

    monkeypatch.setattr(cpu_kernels, "attention_with_dropout", counted)
    run(tiny_bert, fast_path=fast_path, steps=2)
    # BERT's attention_probs_dropout_prob, once per layer (2) and step (2); never in prediction
    assert calls == ([0.1] * 4 if fast_path else [])
