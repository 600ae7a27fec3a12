import numpy as np
import pytest
import torch

from calibench.training.batching import Encoded, collate, endless_length_grouped, eval_batches, length_grouped_batches
from calibench.training.loop import linear_schedule, param_groups, plan_steps


def test_length_grouped_batches_cover_every_index_once_and_group_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 120, size=1000)
    batches = length_grouped_batches(lengths, 16, np.random.default_rng(1), mega=10)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    # padding waste is far below random batching
    waste = sum(lengths[b].max() * len(b) - lengths[b].sum() for b in batches)
    rand = [np.random.default_rng(2).permutation(1000)[i : i + 16] for i in range(0, 1000, 16)]
    rwaste = sum(lengths[b].max() * len(b) - lengths[b].sum() for b in rand)
    assert waste < 0.3 * rwaste
    # seeded: same rng, same batches
    again = length_grouped_batches(lengths, 16, np.random.default_rng(1), mega=10)
    assert all((a == b).all() for a, b in zip(batches, again))


def test_collate_pads_dynamically():
    enc = Encoded([[1, 2, 3], [4], [5, 6]], [[0, 0, 1], [0], [0, 1]], np.array([1, 0, 1]), pad_id=0)
    b = collate(enc, np.array([1, 2]))
    assert b["input_ids"].tolist() == [[4, 0], [5, 6]]
    assert b["attention_mask"].tolist() == [[1, 0], [1, 1]]
    assert b["token_type_ids"].tolist() == [[0, 0], [0, 1]]
    assert b["labels"].tolist() == [0, 1]


def test_eval_batches_and_endless_grouped_epochs():
    order = np.concatenate(eval_batches(np.array([3, 9, 1, 5]), 3))
    assert order.tolist() == [1, 3, 0, 2]
    lengths = np.random.default_rng(0).integers(1, 60, size=200)
    it = endless_length_grouped(lengths, 16, np.random.default_rng(1))
    for _ in range(3):  # every row exactly once per epoch, epoch after epoch
        epoch = [next(it) for _ in range(13)]  # 200 rows / 16 = 12 full batches + one of 8
        assert sorted(np.concatenate(epoch).tolist()) == list(range(200))

    # grouped: far less padding than random batches of the same size
    def pad(bs):
        return sum(len(b) * lengths[b].max() - lengths[b].sum() for b in bs)

    it = endless_length_grouped(lengths, 16, np.random.default_rng(1))
    grouped = [next(it) for _ in range(13)]
    shuffled = np.array_split(np.random.default_rng(2).permutation(200), 13)
    assert pad(grouped) < pad(shuffled) / 3
    with pytest.raises(ValueError, match="no rows"):
        next(endless_length_grouped(np.array([], dtype=np.int64), 4, np.random.default_rng(0)))


def test_schedule_and_steps():
    assert plan_steps(100, 16, 3.0, None, None, 0.1) == (21, 2)
    assert plan_steps(100, 16, 3.0, 50, 5, 0.1) == (50, 5)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = linear_schedule(opt, warmup=2, total=6)
    lrs = []
    for _ in range(6):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs == [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]


def test_no_weight_decay_on_bias_and_layernorm():
    m = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    decay, no = param_groups(m, 0.1)
    assert len(decay["params"]) == 1 and decay["params"][0] is m[0].weight
    assert len(no["params"]) == 3 and no["weight_decay"] == 0.0
