"""mnist_mlp.py: the nn.Module MLP learns, has no activation on its logits, --act swaps it."""
import pytest
import torch
from torch import nn

import mnist_mlp

# One epoch on the first 10000 training images (50 SGD steps, lr 0.01, batch 200), LeakyReLU.
# Observed test accuracy: seed 0: 0.5618, seed 1: 0.5427, seed 2: 0.4747 (PyTorch's default Linear
# init learns slowly at lr 0.01; chance is 0.10).
SMALL = ["--epochs", "1", "--limit", "10000"]
FLOOR, CEILING = 0.35, 0.99


def test_small_budget_learns(mnist_dir, capsys):
    r = mnist_mlp.main(SMALL + ["--seed", "0", "--data-dir", str(mnist_dir)])
    assert FLOOR <= r["test_acc"] < CEILING
    out = capsys.readouterr().out
    assert "Train Epoch: 0 [0/10000 (0%)]\tLoss: " in out
    assert f"Accuracy: {r['correct']}/10000 (" in out
    assert not r["net"].training  # left in eval() after the last test


@pytest.mark.parametrize("act, cls", [("relu", nn.ReLU), ("leakyrelu", nn.LeakyReLU),
                                      ("selu", nn.SELU), ("softplus", nn.Softplus)])
def test_act_flag_builds_that_activation(act, cls):
    net = mnist_mlp.MLP(act)
    kinds = [type(m) for m in net.model]
    assert kinds == [nn.Linear, cls, nn.Linear, cls, nn.Linear]  # nothing after the logits


def test_logits_can_be_negative():
    """No activation on the output: the notes' trailing LeakyReLU would shrink negatives 100x."""
    torch.manual_seed(0)
    net = mnist_mlp.MLP()
    x = torch.randn(64, 784)
    logits = net(x)
    last = net.model[-1]
    torch.testing.assert_close(logits, net.model[:-1](x) @ last.weight.t() + last.bias)
    assert (logits < -0.05).any()  # with a LeakyReLU these would be scaled by 0.01


def test_missing_data_exits_with_one_line(tmp_path):
    with pytest.raises(SystemExit) as exc:
        mnist_mlp.main(["--data-dir", str(tmp_path / "nowhere")])
    message = str(exc.value.code)
    assert message.startswith("error: MNIST is not in") and "\n" not in message
