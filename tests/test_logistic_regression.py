"""1.1 logistic regression: BCE by hand equals BCEWithLogitsLoss; the optim loop learns."""
import math

import pytest
import torch
from torch.testing import assert_close

import logistic_regression


# 200 of the default 1000 epochs: the loss is flat from there on (seed 0: 0.13056 at epoch 200,
# 0.13055 at 1000; the same accuracies for seeds 0-9). A busy machine makes each step slow: the
# CPU log_sigmoid kernel opens a 2-thread parallel region even for 400 elements.
EPOCHS = 200


@pytest.fixture(scope="module")
def result():
    """The script's steps called directly: its data, an initial w, BCE two ways, training."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x, y = logistic_regression.make_data(200, logistic_regression.CENTER, g)
    w = torch.nn.Parameter(torch.randn(2, 1))
    b = torch.nn.Parameter(torch.zeros(1))
    with torch.no_grad():
        logits64 = logistic_regression.logistic_reg(x.double(), w.double(), b.double())
    big = torch.tensor([[100.0]]), torch.tensor([[0.0]])
    losses = logistic_regression.train(x, y, w, b, EPOCHS, logistic_regression.LR, EPOCHS)
    r = logistic_regression.main(["--epochs", str(EPOCHS)])
    return {"y": y, "logits64": logits64,
            "loss_by_hand": logistic_regression.bce_by_hand(logits64, y.double()).item(),
            "loss_bce": torch.nn.BCEWithLogitsLoss()(logits64, y.double()).item(),
            "overflow": (logistic_regression.bce_by_hand(*big).item(),
                         torch.nn.BCEWithLogitsLoss()(*big).item()),
            "losses": losses, "w": w.detach(), "x": x, "b": b,
            "train_acc": r["train_acc"], "test_acc": r["test_acc"], "main": r}


def test_main_trains_the_same_model(result):
    assert result["main"]["final_loss"] == result["losses"][-1]  # same seed, same steps


def test_accuracy_is_flat_in_the_weights_while_the_loss_moves(result):
    w0 = torch.randn(2, 1, generator=torch.Generator().manual_seed(0))  # an untrained w
    flat = logistic_regression.accuracy_is_flat(result["x"], result["y"], w0, result["b"])
    assert flat["accs"][0] == flat["accs"][1]  # no point crossed the line
    assert abs(flat["losses"][1] - flat["losses"][0]) > 1e-6  # the loss did move
    assert not flat["acc_requires_grad"] and flat["acc_grad_fn"] is None
    # the loss's own gradient at the same w is far from zero: something to follow
    w = w0.clone().requires_grad_()
    loss = torch.nn.BCEWithLogitsLoss()(logistic_regression.logistic_reg(
        result["x"], w, result["b"].detach()), result["y"])
    loss.backward()
    assert w.grad.abs().sum() > 0


def test_hand_written_loss_equals_bce_with_logits(result):
    z = result["logits64"].flatten().tolist()
    y = result["y"].flatten().tolist()
    sig = [1 / (1 + math.exp(-zi)) for zi in z]  # ŷ = sigmoid(z), in Python floats
    terms = [yi * math.log(s) + (1 - yi) * math.log(1 - s) for s, yi in zip(sig, y)]
    expected = -sum(terms) / len(terms)
    assert_close(result["loss_bce"], expected, rtol=1e-12, atol=0)
    assert_close(result["loss_by_hand"], expected, rtol=1e-12, atol=0)


def test_bce_with_logits_stays_finite(result):
    # logit 100, label 0: the loss is log(1 + e^100) = 100 + log(1 + e^-100) ≈ 100; by hand in
    # float32 sigmoid(100) rounds to 1 and log(1 - 1) = -inf.
    by_hand, builtin = result["overflow"]
    assert math.isinf(by_hand)
    assert builtin == pytest.approx(100.0)


def test_training_reaches_a_good_line(result):
    losses = result["losses"]
    assert len(losses) == EPOCHS
    assert losses[-1] < losses[0] / 2
    # Over seeds 0-9 (200 or 1000 epochs alike): train 0.9425-0.9625, held-out 0.9325-0.9625
    # (400 points each; seed 0: 0.9575 and 0.9525). The classes overlap: the best line (the
    # diagonal) scores Φ(1.2·√2) = 0.955 in expectation, so ≥ 99% would mean something leaked.
    assert 0.9 <= result["train_acc"] <= 0.99
    assert 0.9 <= result["test_acc"] <= 0.99
    # The learned boundary is close to the Bayes one, w1 = w2 (the diagonal): within 30 degrees.
    w = result["w"].flatten()
    assert torch.dot(w, torch.ones(2)) / (w.norm() * math.sqrt(2)) > math.cos(math.radians(30))
