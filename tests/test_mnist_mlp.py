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


def test_small_budget_learns(mnist_dir, capsys, tmp_path):
    r = mnist_mlp.main(SMALL + ["--seed", "0", "--data-dir", str(mnist_dir),
                                "--plot", str(tmp_path / "p.png")])
    assert FLOOR <= r["test_acc"] < CEILING
    out = capsys.readouterr().out
    assert "Train Epoch: 0 [0/10000 (0%)]\tLoss: " in out
    # the notes' figure: their sum of 50 batch means / 10000 = the true mean / 200
    assert f"Average loss: {r['test_loss'] / 200:.4f}, Accuracy: {r['correct']}/10000 (" in out
    from matplotlib.image import imread
    image = imread(tmp_path / "p.png")
    assert image.shape[:2] == (400, 1000) and image[..., :3].std() > 0.05  # real, not blank


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
    x = torch.randn(64, 784, dtype=torch.float64)
    (w1, b1), (w2, b2), (w3, b3) = [(m.weight.double(), m.bias.double()) for m in net.model[::2]]
    leaky = lambda t: torch.where(t > 0, t, 0.01 * t)  # LeakyReLU by hand, default slope
    by_hand = leaky(leaky(x @ w1.T + b1) @ w2.T + b2) @ w3.T + b3  # nothing after the last layer
    logits = net.double()(x)
    torch.testing.assert_close(logits, by_hand)
    assert (logits < -0.05).any()  # with a LeakyReLU these would be scaled by 0.01


def test_missing_data_exits_with_one_line(tmp_path):
    with pytest.raises(SystemExit) as exc:
        mnist_mlp.main(["--data-dir", str(tmp_path / "nowhere")])
    message = str(exc.value.code)
    assert message.startswith("error: MNIST is not in") and "\n" not in message
