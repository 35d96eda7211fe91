"""mnist_raw_weights.py: the raw-tensor MLP learns, is reproducible, the notes' failure shows."""
import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import mnist_raw_weights
from conftest import lesson_namespace

# One epoch on the first 10000 training images (50 SGD steps at the notes' lr 0.01, batch 200).
# Observed test accuracy: seed 0: 0.7679, seed 1: 0.7607, seed 2: 0.7430.
SMALL = ["--epochs", "1", "--limit", "10000", "--log-interval", "25"]
FLOOR, CEILING = 0.65, 0.99


@pytest.fixture(scope="module")
def small_run(mnist_dir):
    return mnist_raw_weights.main(SMALL + ["--seed", "0", "--data-dir", str(mnist_dir)])


def test_small_budget_learns(small_run):
    assert FLOOR <= small_run["test_acc"] < CEILING


def test_same_seed_same_result(small_run, mnist_dir):
    again = mnist_raw_weights.main(SMALL + ["--seed", "0", "--data-dir", str(mnist_dir)])
    assert again["test_acc"] == small_run["test_acc"]
    assert again["test_loss"] == small_run["test_loss"]


def test_prints_the_notes_lines_and_plots(mnist_dir, capsys, tmp_path):
    r = mnist_raw_weights.main(["--epochs", "1", "--limit", "400", "--log-interval", "1",
                                "--data-dir", str(mnist_dir), "--plot", str(tmp_path / "p.png")])
    out = capsys.readouterr().out
    # The true mean on the notes' line; beside it the notes' figure: their sum of the 50 test
    # batches' means divided by 10000 images, i.e. the mean / 200.
    assert f"Average loss: {r['test_loss']:.4f}, Accuracy: {r['correct']}/10000" in out
    assert f"(the notes' figure: {r['test_loss'] / 200:.4f})" in out
    assert out.count("Test set: Average loss") == 1
    from matplotlib.image import imread
    image = imread(tmp_path / "p.png")
    assert image.shape[:2] == (400, 1000) and image[..., :3].std() > 0.05  # real, not blank
    # 400 images = 2 batches: lines at batch 0 and 1, in the notes' format.
    assert "Train Epoch: 0 [0/400 (0%)]\tLoss: " in out
    assert "Train Epoch: 0 [200/400 (50%)]\tLoss: " in out
    assert "epochs: 1, time:" in out


# --final-relu with kaiming init: whether a class dies depends on the seed. Of seeds 0-14 (full
# 10 epochs), 13 recover to ~95.4% (a dead logit can come back as the hidden layers move) and
# seeds 7 and 9 end at ~86% (seed 7: the digit 8 is never predicted); the notes' run ended at 84%.


def test_normal_init_with_final_relu_is_stuck(mnist_dir):
    # The notes' "锁定在10%": after the first huge steps every training logit is negative, the
    # final ReLU makes them all 0, softmax is uniform and the loss is exactly ln 10 with no
    # gradient. On the test set nearly every image gets ten zero logits and argmax picks class 0
    # (980 of the 10000 test labels are 0). One epoch on 10000 images (50 steps); observed test
    # accuracy seeds 0-3: 0.0985, 0.0980, 0.0981, 0.0979, last training loss ln 10 for all four
    # (after only 20 steps seed 0 was still at loss 3.58); images predicted as class 0, seeds 0-2:
    # 9986, 9996, 9999.
    r = mnist_raw_weights.main(["--init", "normal", "--final-relu", "--epochs", "1",
                                "--limit", "10000", "--data-dir", str(mnist_dir)])
    assert r["test_acc"] <= 0.15
    assert sum(r["predicted_per_class"]) == 10000 and r["predicted_per_class"][0] >= 9900
    assert_close(r["train_loss"], math.log(10), rtol=1e-6, atol=0)


def test_forward_equals_torch_layers():
    """The raw forward is the same function as nn.Linear/ReLU layers holding the same weights."""
    torch.manual_seed(0)
    params = mnist_raw_weights.init_weights("kaiming")
    layers = [nn.Linear(784, 200), nn.ReLU(), nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 10)]
    net = nn.Sequential(*layers).double()
    with torch.no_grad():
        for linear, w, b in zip(net[::2], params[::2], params[1::2]):
            linear.weight.copy_(w)
            linear.bias.copy_(b)
    x = torch.randn(16, 784, dtype=torch.float64)
    params64 = [p.detach().double() for p in params]
    assert_close(mnist_raw_weights.forward(params64, x, final_relu=False), net(x))
    assert_close(mnist_raw_weights.forward(params64, x, final_relu=True), net(x).relu())


def test_init_std():
    """kaiming_normal_: std sqrt(2/fan_in); the notes' randn: std 1 (within sampling error)."""
    torch.manual_seed(0)
    kaiming = mnist_raw_weights.init_weights("kaiming")
    normal = mnist_raw_weights.init_weights("normal")
    for w, fan_in in zip(kaiming[::2], [784, 200, 200]):
        # the std of n normal samples is off by ~1/sqrt(2n): n >= 2000 here, so 5% is > 3 sigma
        assert_close(w.std().item(), math.sqrt(2 / fan_in), rtol=0.05, atol=0)
    for w in normal[::2]:
        assert_close(w.std().item(), 1.0, rtol=0.05, atol=0)
    assert all((b == 0).all() for b in kaiming[1::2])


def test_missing_data_is_one_clear_line(tmp_path):
    # SystemExit(text): Python prints the text alone on stderr and exits 1, no traceback
    with pytest.raises(SystemExit) as exc:
        mnist_raw_weights.main(["--data-dir", str(tmp_path / "nowhere"), "--epochs", "1"])
    message = str(exc.value.code)
    assert message.startswith("error: MNIST is not in") and "\n" not in message
    assert "make data" in message and "python get_mnist.py --data-dir" in message


def test_the_copied_lesson_trains(mnist_dir):
    """Copy-out: the lesson part alone (no main, no plumbing) trains on MNIST loaded by hand."""
    from torchvision import datasets
    lesson = lesson_namespace("mnist_raw_weights")
    train = datasets.MNIST(mnist_dir, train=True)
    x, y = lesson["to_inputs"](train.data[:2000]), train.targets[:2000]
    # The notes' Normalize((0.1307,), (0.3081,)): the normalised training images have mean ~0, std ~1
    assert abs(x.mean().item()) < 0.05 and abs(x.std().item() - 1) < 0.05
    torch.manual_seed(0)
    params = lesson["init_weights"]()
    model = lambda data: lesson["forward"](params, data)
    optimizer = torch.optim.SGD(params, lr=0.01)
    loss0 = lesson["evaluate"](model, x, y)[0]
    batches = lesson["shuffled_batches"](len(x), 200, torch.Generator().manual_seed(0))
    losses = lesson["train_epoch"](model, optimizer, x, y, batches, epoch=0, log_interval=100)
    assert len(losses) == 10
    assert lesson["evaluate"](model, x, y)[0] < 0.8 * loss0  # 10 SGD steps lower the loss


# The notes' full recipe: 10 epochs, batch 200, lr 0.01, kaiming init, no final ReLU.
# Observed test accuracy, seeds 0/1/2: 0.9554 / 0.9567 / 0.9553 (the notes: 9513, 9540, 9556 in
# their last three epochs). The notes' "Average loss" (mean / 200) printed 0.0007; ours: mean
# cross entropy 0.1491 / 0.1501 / 0.1476, printed 0.0007 / 0.0008 / 0.0007 (0.1501 / 200 =
# 0.00075 rounds up). Asserted: the notes' figure within one printed unit.
@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_notes_recipe_reaches_their_accuracy(mnist_dir, seed):
    r = mnist_raw_weights.main(["--seed", str(seed), "--data-dir", str(mnist_dir)])
    assert 0.953 <= r["test_acc"] < 0.99
    assert 0.0006 <= r["test_loss"] / 200 <= 0.0008  # the notes' 0.0007, +- one printed unit
