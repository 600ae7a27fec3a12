"""What a training leaves behind beyond its in-domain logits: its kept model and the
predictions on extra evaluation sets (shifted and OOD sets).

The finetuned weights are kept (artifact kind ``model``, plain ``.npy`` per tensor, under
the training key) so that outputs asked for later -- a shift pair, an OOD set, another
inference procedure -- are predicted from the *same* model without training again. A
model that is missing or does not load is not an error: the job then trains, exactly as
the first time (training is seeded), and says so in its record.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MODEL_KIND = "model"


def save_model(artifacts: Any, key: str, model: Any) -> None:
    """Write ``model``'s state dict (float tensors as float32) as the ``model`` artifact ``key``."""
    arrays: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu()
        dtypes[name] = str(t.dtype).removeprefix("torch.")
        arrays[name] = (t.float() if t.is_floating_point() else t).numpy()
    artifacts.write(MODEL_KIND, key, arrays=arrays, json_data={"dtypes": dtypes})


def load_model(artifacts: Any, key: str, model: Any) -> str | None:
    """Load the kept weights of training ``key`` into ``model``; None on success, else why not."""
    import torch

    from calibench.store.artifacts import ArtifactCorrupt, ArtifactMissing

    try:
        art = artifacts.read(MODEL_KIND, key)
    except (ArtifactMissing, ArtifactCorrupt) as exc:
        return f"kept model unreadable ({exc})"
    dtypes = art.json.get("dtypes", {})
    state = {n: torch.from_numpy(a).to(getattr(torch, dtypes.get(n, "float32"))) for n, a in art.arrays.items()}
    # checked before loading anything: a partial load would leave a LoRA training's shared,
    # frozen base (calibench.methods.lora) changed for the trainings after it
    own = {n: tuple(t.shape) for n, t in model.state_dict().items()}
    unfit = sorted(set(own) ^ set(state)) or sorted(n for n in own if tuple(state[n].shape) != own[n])
    if unfit:
        return f"kept model does not fit this model ({len(unfit)} tensor(s) differ, e.g. {unfit[0]})"
    model.load_state_dict(state, strict=True)
    return None


def scalar_energy_scores(model: Any, enc: Any, ctx: Any) -> np.ndarray | None:
    """The EBM's own energy ``g(h)`` per example (lower = more data-like), where the model has a
    scalar energy head; None otherwise."""
    import torch

    from calibench.ebm.energy import SCALAR_HEAD_KEY, scalar_energy
    from calibench.training.batching import eval_batches

    if SCALAR_HEAD_KEY not in model.extra_heads:
        return None
    head = model.extra_heads[SCALAR_HEAD_KEY]
    out = np.zeros(len(enc), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for idx in eval_batches(enc.lengths, ctx.spec.hyper.eval_batch_size):
            with ctx.autocast():
                energy = scalar_energy(model(**ctx.batch(enc, idx)).hidden, head)
            out[idx] = energy.float().cpu().numpy()
    return out


def load_eval_sets(spec: Any) -> list[Any]:
    """The spec's extra evaluation sets, loaded and checked against their planned fingerprints."""
    from calibench.execution.jobs import FingerprintMismatch
    from calibench.tasks.evalsets import load_eval_set, parse_eval_set

    out = []
    for set_id, definition, fingerprint in spec.eval_sets:
        es = load_eval_set(parse_eval_set(definition, set_id.split("-", 1)[0]), spec.data.data_dir)
        if es.fingerprint != fingerprint:
            raise FingerprintMismatch(
                f"evaluation set {set_id}: the data changed since this job was planned "
                f"(fingerprint {es.fingerprint} != {fingerprint}); re-run the command"
            )
        out.append(es)
    return out
