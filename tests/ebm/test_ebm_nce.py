"""The residual NCE loss against a hand computation and against the reference's form."""

from __future__ import annotations

import math

import pytest
import torch

from calibench.ebm.nce import nce_loss, nce_terms, pairwise_ranking_accuracy


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_terms_match_a_hand_computation() -> None:
    ed = torch.tensor([-1.0, 0.5])
    en = torch.tensor([2.0, 0.0, -0.5, 1.0])
    k = 2.0
    out = nce_loss(ed, en, k=k)
    lk = math.log(2.0)
    data = (_softplus(-1.0 + lk) + _softplus(0.5 + lk)) / 2
    noise = 2.0 * (_softplus(-2.0 - lk) + _softplus(0.0 - lk) + _softplus(0.5 - lk) + _softplus(-1.0 - lk)) / 4
    assert out.data_loss == pytest.approx(data)
    assert out.noise_loss == pytest.approx(noise)
    assert float(out.loss) == pytest.approx(data + noise)
    assert out.energy_data == pytest.approx(-0.25)
    assert out.energy_noise == pytest.approx(0.625)
    assert out.k == 2.0


def test_terms_are_the_nce_posterior_log_loss() -> None:
    # P(data | x) = exp(-E) / (exp(-E) + K): the data term is -log of it, the noise term -log(1 - it)
    e = torch.linspace(-3, 3, 7)
    k = 8.0
    post = torch.exp(-e) / (torch.exp(-e) + k)
    d, n = nce_terms(e, e, k)
    torch.testing.assert_close(d, -torch.log(post))
    torch.testing.assert_close(n, -torch.log1p(-post))


def test_k_defaults_to_noise_per_data_sample() -> None:
    out = nce_loss(torch.zeros(4), torch.zeros(32))
    assert out.k == 8.0
    # at E = 0 everywhere: log(1 + K) + K log(1 + 1/K)
    assert float(out.loss) == pytest.approx(math.log(9) + 8 * math.log(9 / 8))


def _reference_form(ed: torch.Tensor, noise_batches: list[torch.Tensor]) -> torch.Tensor:
    """The reference: data term log(exp(-E)+K) + E, noise term log(exp(-E)+K), summed over
    K noise batches of the data batch's size, each averaged."""
    k = len(noise_batches)
    logk = torch.tensor(math.log(k))
    data = (torch.logaddexp(-ed, logk) + ed).mean()
    return data + sum(torch.logaddexp(-en, logk).mean() for en in noise_batches)


def test_gradients_match_the_reference_form_which_differs_by_k_log_k() -> None:
    torch.manual_seed(0)
    k, b = 4, 5
    ed = torch.randn(b, requires_grad=True)
    en = torch.randn(k * b, requires_grad=True)
    ours = nce_loss(ed, en).loss
    g_ours = torch.autograd.grad(ours, (ed, en))

    ed2 = ed.detach().clone().requires_grad_(True)
    en2 = en.detach().clone().requires_grad_(True)
    ref = _reference_form(ed2, list(en2.split(b)))
    g_ref = torch.autograd.grad(ref, (ed2, en2))

    assert float((ref - ours).detach()) == pytest.approx(k * math.log(k), abs=1e-5)  # a constant shift
    torch.testing.assert_close(g_ours[0], g_ref[0])
    torch.testing.assert_close(g_ours[1], g_ref[1])
    # the option that reports the reference's value
    assert float(nce_loss(ed, en, reference_constant=True).loss.detach()) == pytest.approx(
        float(ref.detach()), abs=1e-5
    )


def test_loss_pushes_data_energy_down_and_noise_energy_up() -> None:
    ed = torch.zeros(3, requires_grad=True)
    en = torch.zeros(6, requires_grad=True)
    nce_loss(ed, en).loss.backward()
    assert torch.all(ed.grad > 0)  # gradient descent lowers E(data)
    assert torch.all(en.grad < 0)  # and raises E(noise)


def test_pairwise_ranking_accuracy_counts_all_pairs_ties_half() -> None:
    ed = torch.tensor([0.0, 2.0])
    en = torch.tensor([1.0, 2.0, 3.0])
    # pairs: (0<1,0<2,0<3) = 3 correct; (2>1 wrong, 2=2 tie, 2<3 correct) = 1.5
    assert pairwise_ranking_accuracy(ed, en) == pytest.approx(4.5 / 6)
    out = nce_loss(ed, en)
    assert out.pair_accuracy == pytest.approx(0.75)
    assert pairwise_ranking_accuracy(torch.ones(4), torch.ones(4)) == 0.5
    assert pairwise_ranking_accuracy(-torch.ones(4), torch.ones(8)) == 1.0


def test_logs_are_plain_floats_and_inputs_are_checked() -> None:
    out = nce_loss(torch.randn(2), torch.randn(4))
    logs = out.logs()
    assert set(logs) == {
        "nce/loss",
        "nce/data_loss",
        "nce/noise_loss",
        "nce/energy_data",
        "nce/energy_noise",
        "nce/pair_accuracy",
    }
    assert all(isinstance(v, float) for v in logs.values())
    with pytest.raises(ValueError):
        nce_loss(torch.zeros(0), torch.zeros(3))
    with pytest.raises(ValueError):
        nce_loss(torch.zeros(2), torch.zeros(3), k=0)
