"""Joint EBM finetuning as one training recipe, ``ebm(energy=scalar|hidden|sharp-hidden)``.

Per optimisation step, as the reference: one cross-entropy minibatch (the loop's random,
length-grouped batch), then one data batch for NCE from a separate pass over the training
set, then ``K`` noise batches of NCE-batch size from a pass over the cached noise corpus;
dropout on in every pass. The reference reads both passes sequentially; here they are
length-grouped epochs (every row once per epoch, as there, in a seeded order) and the
``K * B`` noise rows run as ``K`` forward passes of rows of similar length, so that padding
does not make an EBM step cost more than its extra rows (``benchmarks/bench_ebm_step.py``).
Loss = CE + lambda * NCE (residual form, see :mod:`calibench.ebm.nce`). The loop clips
gradients and steps AdamW as for any recipe.

Divergence guard: a non-finite loss stops the run (the loop); an energy whose magnitude
exceeds ``energy_limit`` stops it too, naming the step and the term.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from calibench.ebm import ENERGY_NAMES
from calibench.ebm.energy import SCALAR_HEAD_KEY
from calibench.errors import OptionError
from calibench.methods.base import LossOutput, Recipe

#: options added after trainings were stored: at their default they stay out of the training key
_LATER_OPTIONS = (
    "noise_batch_size",
    "noise_bf16",
    "noise_max_steps",
    "noise_layers",
    "noise_head_negatives",
    "noise_target_perplexity",
)
#: the reference's noise-LM finetuning epochs (4 elsewhere)
REFERENCE_NOISE_EPOCHS = {"rte": 8, "cola": 8, "mrpc": 8, "wnli": 16}  # mrpc: its NCE scripts


class _ProgressAdapter:
    """The noise corpus reports ``(name, done, total)``; show it as rich progress bars."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def __call__(self, name: str, done: int, total: int) -> None:
        if self.progress is None:
            return
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(name, total=total)
        self.progress.update(self.tasks[name], completed=done, total=total)

    def close(self) -> None:
        for t in self.tasks.values():
            self.progress.remove_task(t)
        self.tasks.clear()


class EBMRecipe(Recipe):
    """Cross-entropy + lambda * NCE against samples of the auto-regressive noise model.

    ``energy`` picks the energy: ``scalar`` (a separate one-output head g(h_cls)),
    ``hidden`` (-logsumexp of the class logits, JEM-style) or ``sharp-hidden`` (-max of the
    class logits). ``ebm-hidden`` etc. are registered aliases of ``ebm(energy=hidden)``.
    """

    defaults: ClassVar[dict[str, Any]] = {
        "energy": "hidden",
        "k": 8,  # noise samples per data sample (paper: 8; 1 is sometimes better on small tasks)
        "nce_lambda": 1.0,
        "nce_batch_size": None,  # None: the CE batch size (as the paper)
        "noise_lm": "tiny-scratch",  # or "gpt2" (the paper's) or any HF causal LM id / path
        "mask_rate": 0.4,
        "noise_epochs": None,  # None: tiny-scratch's default; a pretrained LM: the reference's per task
        "noise_lr": None,  # None: the LM kind's default (tiny-scratch 3e-3; a pretrained LM the reference's 5e-6)
        "noise_batch_size": None,  # None: the LM kind's default (tiny-scratch 16; a pretrained LM the reference's 8)
        # bf16 autocast for noise-LM training and sampling: 2x faster on a CPU with bf16 units,
        # ~11x slower where bf16 is emulated (AVX2). "auto": on only where native (resolved here,
        # before the training key is made, as the loop's precision is)
        "noise_bf16": False,
        "noise_max_steps": None,  # a step budget for the noise LM (None: noise_epochs full epochs)
        # a pretrained noise LM: keep its first N layers (None: all). 2.2x faster at 3 of MiniLM's 6,
        # but SST-2 dev perplexity 170 against 91 (benchmarks/README.md, bench_noise_lm.py)
        "noise_layers": None,
        # train the noise LM's vocabulary head as a sampled softmax with N negatives
        # (None: the full head). 1.44x faster at 2,048 on MiniLM, SST-2 dev perplexity 99.6
        # against 115.0 (benchmarks/README.md, bench_noise_lm.py)
        "noise_head_negatives": None,
        # stop the noise LM at the first epoch whose perplexity on 5% of the training inputs,
        # held out from it, is at most this (None: the whole schedule); see NoiseModelConfig.
        # MiniLM, bf16, 2,048 negatives, lr 3e-4, stop at 70: 3.3x faster than the code before the
        # speed work, SST-2 dev perplexity 99.7 against 116.5 (benchmarks/README.md)
        "noise_target_perplexity": None,
        "noise_samples": None,  # None: enough for every step without reuse, capped at max_noise_samples
        "max_noise_samples": 200_000,
        "noise_seed": 0,  # the corpus is shared by every training seed, as the reference's
        "scalar_head": "mlp",  # scalar energy's head: "mlp" (reference) or "linear" (paper's wording)
        "energy_limit": 1.0e4,  # |mean energy| above this stops the run as diverged
        # the K*B noise rows of a step go through the model as this many length-sorted batches
        # (None: K, the reference's K noise batches of NCE-batch size); one batch of K*B rows
        # pads every row to the longest of them (1.67x the step-time bound at K=8 here)
        "noise_passes": None,
    }

    def __init__(self, **options: Any) -> None:
        # checked here, not in setup: the planner builds every recipe before any training, so
        # a bad option stops the run before minutes of noise-LM training and sampling
        super().__init__(**options)
        o = self.options
        if o["energy"] not in ENERGY_NAMES:
            raise OptionError(f"ebm: energy must be one of {', '.join(ENERGY_NAMES)}, got {o['energy']!r}")
        if o["k"] < 1 or o["nce_lambda"] < 0:
            raise OptionError(
                f"{self.energy}: need k >= 1 and nce_lambda >= 0 (got k={o['k']}, lambda={o['nce_lambda']})"
            )
        if o["noise_bf16"] == "auto":
            from calibench.training.precision import bf16_native

            o["noise_bf16"] = bf16_native(torch.device("cpu"))  # the noise LM trains on the CPU
        if not isinstance(o["noise_bf16"], bool):
            raise OptionError(f"{self.energy}: noise_bf16 must be true, false or auto, got {o['noise_bf16']!r}")
        if self._noise_passes() < 1:
            raise OptionError(f"{self.energy}: noise_passes must be >= 1 (or None for K), got {o['noise_passes']}")
        try:
            self.noise_config("")  # the noise LM's own checks (noise_layers, mask_rate, ...)
        except ValueError as exc:
            raise OptionError(f"{self.energy}: noise LM: {exc}") from None

    @property
    def energy(self) -> str:
        return str(self.options["energy"])

    def training_identity(self, name: str) -> tuple[str, dict[str, Any]]:
        """``ebm-<energy>`` and the options without ``energy``: the keys trainings had when the
        energy was part of the recipe's name, so stored EBM trainings are reused."""
        opts = {k: v for k, v in self.options.items() if k != "energy"}
        for k in _LATER_OPTIONS:  # options added later enter the key only when set
            if opts.get(k) == self.defaults[k]:
                opts.pop(k)
        return f"ebm-{self.energy}", opts

    def _noise_passes(self) -> int:
        return int(self.options["noise_passes"] or self.options["k"])

    def noise_config(self, task: str):
        """The noise LM this recipe trains for ``task`` (also what ``calibench noise show`` samples)."""
        from calibench.ebm.noise_model import NoiseModelConfig

        epochs = self.options["noise_epochs"]
        if epochs is None and self.options["noise_lm"] != "tiny-scratch":
            epochs = REFERENCE_NOISE_EPOCHS.get(task, 4)
        o = self.options
        return NoiseModelConfig(
            lm=o["noise_lm"],
            mask_rate=o["mask_rate"],
            epochs=epochs,
            lr=o["noise_lr"],
            batch_size=o["noise_batch_size"],
            bf16=o["noise_bf16"],
            max_steps=o["noise_max_steps"],
            layers=o["noise_layers"],
            head_negatives=o["noise_head_negatives"],
            target_perplexity=o["noise_target_perplexity"],
        )

    def noise_samples(self, total_steps: int, batch_size: int) -> int:
        """Size of the noise corpus a training of ``total_steps`` steps draws (K per NCE row,
        capped at ``max_noise_samples``), unless ``noise_samples`` fixes it; the cost model
        (:mod:`calibench.execution.costs`) asks the same question before anything runs."""
        o = self.options
        nce_bs = int(o["nce_batch_size"] or batch_size)
        return int(o["noise_samples"] or min(total_steps * nce_bs * int(o["k"]), o["max_noise_samples"]))

    def add_heads(self, model) -> None:
        from calibench.ebm.energy import make_scalar_head, resolve_energy

        if resolve_energy(self.energy).needs_scalar_head:
            model.extra_heads[SCALAR_HEAD_KEY] = make_scalar_head(
                model.hidden_size, self.options["scalar_head"], model.dropout_p
            )

    def setup(self, ctx) -> None:
        from calibench.ebm.casing import warn_on_case_mismatch
        from calibench.ebm.corpus import get_noise_corpus
        from calibench.training.batching import endless_length_grouped

        o = self.options
        if ctx.artifacts is None:
            raise ValueError("EBM recipes need an artifact store for the noise corpus (TrainContext.artifacts)")
        self.add_heads(ctx.model)
        nce_bs = int(o["nce_batch_size"] or ctx.spec.hyper.batch_size)
        n_samples = self.noise_samples(ctx.total_steps, ctx.spec.hyper.batch_size)
        report = _ProgressAdapter(ctx.progress)
        try:
            corpus = get_noise_corpus(
                ctx.task.name,
                ctx.train_texts,
                ctx.dev_texts,
                self.noise_config(ctx.task.name),
                n_samples,
                o["noise_seed"],
                ctx.artifacts,
                report,
            )
        finally:
            report.close()
        warn_on_case_mismatch(ctx.train_texts, corpus.texts, ctx.tokenizer)
        ctx.state["noise"] = ctx.encode(corpus.texts)
        ctx.state["noise_lengths"] = ctx.state["noise"].lengths
        ctx.state["noise_pass_size"] = math.ceil(nce_bs * int(o["k"]) / self._noise_passes())
        ctx.state["corpus"] = corpus
        # the NCE passes' own orders (not the CE batches'), seeded by the training seed
        seed = ctx.spec.seed
        ctx.state["data_ptr"] = endless_length_grouped(ctx.train.lengths, nce_bs, np.random.default_rng([seed, 1]))
        ctx.state["noise_ptr"] = endless_length_grouped(
            ctx.state["noise_lengths"], nce_bs * int(o["k"]), np.random.default_rng([seed, 2])
        )

    def _energy(self, model, batch):
        from calibench.ebm.energy import compute_energy

        out = model(**batch)
        head = model.extra_heads[SCALAR_HEAD_KEY] if SCALAR_HEAD_KEY in model.extra_heads else None
        return compute_energy(self.energy, out.logits.float(), out.hidden, head).float()

    def loss(self, model, batch, ctx) -> LossOutput:
        from calibench.ebm.nce import nce_loss
        from calibench.training.batching import eval_batches
        from calibench.training.loop import TrainingDiverged

        ce = F.cross_entropy(model(**batch).logits.float(), batch["labels"])
        e_data = self._energy(model, ctx.batch(ctx.train, next(ctx.state["data_ptr"])))
        idx = next(ctx.state["noise_ptr"])
        # NCE needs only the set of noise energies, so rows may go in any order: similar lengths together
        passes = [idx[b] for b in eval_batches(ctx.state["noise_lengths"][idx], ctx.state["noise_pass_size"])]
        e_noise = torch.cat([self._energy(model, ctx.batch(ctx.state["noise"], b)) for b in passes])
        nce = nce_loss(e_data, e_noise, float(self.options["k"]))
        logs = {"ce": float(ce.detach()), **nce.logs()}
        limit = self.options["energy_limit"]
        for term in ("energy_data", "energy_noise"):
            if abs(getattr(nce, term)) > limit:
                raise TrainingDiverged(ctx.step, logs, reason=f"{term} exploded beyond +-{limit:g}")
        return LossOutput(ce + self.options["nce_lambda"] * nce.loss, logs)

    def record(self, ctx) -> dict[str, Any]:
        corpus = ctx.state.get("corpus")
        return {
            "energy": self.energy,
            "k": self.options["k"],
            "nce_lambda": self.options["nce_lambda"],
            "mask_rate": self.options["mask_rate"],
            "noise_lm": self.options["noise_lm"],
            "noise_corpus": None
            if corpus is None
            else {
                "key": corpus.key,
                "from_cache": corpus.from_cache,
                "wait_seconds": round(corpus.wait_seconds, 3),
                **corpus.stats.to_dict(),
            },
        }
