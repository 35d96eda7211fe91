"""overfitting.py: each remedy shows its effect on a small budget, dropout needs eval(), early
stopping keeps the best epoch, cross-validation folds cover the data; the combined recipe (slow)."""
import contextlib
import copy
import io
import math
import statistics

import pytest
import torch
from torch import nn
from torch.testing import assert_close
from torchvision import datasets

import overfitting
from conftest import lesson_namespace

# One epoch (25 SGD steps at lr 0.05, batch 200) on the first 5000 of the 50k training images;
# the combined recipe gets 4x: 4 epochs. Observed test accuracy, seeds 0 / 1 / 2:
#   plain 0.6908 / 0.7109 / 0.6433, l2 0.6909 / 0.7110 / 0.6428, momentum 0.8279 / 0.8446 / 0.8524,
#   dropout 0.6920 / 0.6909 / 0.6205, combined 0.9175 / 0.9118 / 0.9156 (validation within 0.02);
#   left in train(): dropout 0.6037 / 0.5872 / 0.5504, combined 0.8941 / 0.8907 / 0.8916.
SMALL = ["--variants", "plain,l2,momentum,dropout,combined", "--epochs", "1", "--limit", "5000",
         "--target", "0.5"]
FLOORS = {"plain": 0.55, "l2": 0.55, "momentum": 0.70, "dropout": 0.55, "combined": 0.85}
CEILING = 0.99


@pytest.fixture(scope="module")
def small_run(mnist_dir, tmp_path_factory):
    """The five runs once for every test here, with its printed text and its --plot file."""
    plot = tmp_path_factory.mktemp("plot") / "gaps.png"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = overfitting.main(SMALL + ["--data-dir", str(mnist_dir), "--plot", str(plot)])
    return result, out.getvalue(), plot


@pytest.fixture(scope="module")
def mnist_2000(mnist_dir):
    """The first 2000 training images, uint8 (N, 28, 28), and their labels (N,)."""
    ds = datasets.MNIST(mnist_dir, train=True, download=False)
    return ds.data[:2000], ds.targets[:2000]


def test_small_budget_table(small_run):
    result, out, _ = small_run
    rows = result["rows"]
    assert list(rows) == ["plain", "l2", "momentum", "dropout", "combined"]
    for name, row in rows.items():
        assert FLOORS[name] <= row["test_acc"] < CEILING, name
        assert FLOORS[name] <= row["val_acc"] < CEILING, name
    assert [r["epochs_run"] for r in rows.values()] == [1, 1, 1, 1, 4]
    assert "target met: combined" in out and ">= 50.0%" in out  # --target 0.5 is checked
    assert "1 epochs" not in out


def test_l2_shrinks_the_weights(small_run):
    """weight_decay subtracts lr * wd * w each step: after the same 25 steps from the same start,
    |w| is smaller than plain SGD's by about 25 * lr * wd * |w| (0.0074 of 11.8), to first order."""
    rows = small_run[0]["rows"]
    plain, l2 = rows["plain"]["weight_norm"], rows["l2"]["weight_norm"]
    expected = 25 * overfitting.LR * overfitting.WEIGHT_DECAY * plain
    assert_close(plain - l2, expected, rtol=0.3, atol=0)
    assert abs(rows["l2"]["val_acc"] - rows["plain"]["val_acc"]) < 0.01  # otherwise the same run


def test_momentum_goes_further_in_the_same_steps(small_run):
    """Momentum speeds convergence (it is no regulariser): the same 25 steps reach a much better
    validation accuracy than plain SGD (observed margins, seeds 0-2: 0.128, 0.128, 0.205)."""
    rows = small_run[0]["rows"]
    assert rows["momentum"]["val_acc"] > rows["plain"]["val_acc"] + 0.05
    assert rows["momentum"]["train_loss"] < rows["plain"]["train_loss"] - 0.3


def test_lr_decay_follows_the_cosine_in_the_copied_lesson(mnist_2000):
    """The lesson part alone (no main, no plumbing) trains lr_decay for 4 epochs on real MNIST;
    the lr of epoch e is lr (1 + cos(pi e / 4)) / 2 and reaches 0 after the schedule."""
    lesson = lesson_namespace("overfitting")
    x, y = lesson["to_inputs"](mnist_2000[0]), mnist_2000[1]  # (2000, 784), (2000,)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model, optimizer, scheduler, stopper = lesson["lr_decay"](0.05, 4)
    lrs, first, last = [], None, None
    for epoch in range(stopper.epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        batches = lesson["shuffled_batches"](1500, 100, generator)
        losses = lesson["train_epoch"](model, optimizer, x[:1500], y[:1500], batches, epoch)
        first, last = first or losses[0], losses[-1]
        scheduler.step()
    expected = [0.05 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]
    assert_close(lrs + [optimizer.param_groups[0]["lr"]], expected, rtol=1e-12, atol=1e-15)
    model.eval()
    _, correct = lesson["evaluate"](model, x[1500:], y[1500:])
    assert last < first - 0.5 and 0.50 < correct / 500 < CEILING


def test_early_stopping_stops_and_keeps_the_best_epoch(mnist_2000):
    """200 training images overfit fast: the validation loss turns up, early stopping ends the
    run `patience` epochs after its best and puts that epoch's weights back."""
    x, y = overfitting.to_inputs(mnist_2000[0]), mnist_2000[1]
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model, optimizer, _, stopper = overfitting.early_stop(0.05, 60)
    val_losses = []
    for epoch in range(stopper.epochs):
        model.train()
        overfitting.train_epoch(model, optimizer, x[:200], y[:200],
                                overfitting.shuffled_batches(200, 20, generator), epoch)
        model.eval()
        val_losses.append(overfitting.evaluate(model, x[1000:], y[1000:])[0])
        if stopper.should_stop(model, val_losses[-1], epoch):
            break
    assert epoch < 59 and epoch - stopper.best_epoch == overfitting.PATIENCE
    assert stopper.best_epoch == min(range(len(val_losses)), key=val_losses.__getitem__)
    stopper.restore(model)
    assert_close(overfitting.evaluate(model, x[1000:], y[1000:])[0], min(val_losses))


def test_early_stopper_on_a_scripted_loss_curve():
    net = nn.Linear(2, 1)
    stopper = overfitting.EarlyStopper(10, patience=3)
    states, stopped_at = [], None
    for epoch, loss in enumerate([1.0, 0.8, 0.9, 0.85, 0.95, 0.7]):  # best at 1, three worse
        with torch.no_grad():
            net.weight.fill_(epoch)  # a different weight every epoch
        states.append(copy.deepcopy(net.state_dict()))
        if stopper.should_stop(net, loss, epoch):
            stopped_at = epoch
            break
    assert stopped_at == 4 and stopper.best_epoch == 1
    stopper.restore(net)
    assert torch.equal(net.weight, states[1]["weight"])  # epoch 1's weights, not the last
    no_patience, last = overfitting.EarlyStopper(10), net.weight.clone()
    assert not any(no_patience.should_stop(net, loss, e) for e, loss in enumerate([1, 2, 3, 4]))
    no_patience.restore(net)  # nothing to restore: the last weights stay
    assert torch.equal(net.weight, last)


def test_dropout_eval_deterministic_train_not():
    torch.manual_seed(0)
    model, *_ = overfitting.dropout(0.05, 1, p=0.5, p_input=0.5)
    x = torch.randn(32, 784)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))
    layers = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert [m.p for m in layers] == [0.5, 0.5, 0.5]  # the pixels and both hidden layers
    # train() keeps the expected activation: kept units are scaled by 1/(1-p) = 2
    dropped = layers[1](torch.ones(100000, 1))
    assert set(dropped.unique().tolist()) <= {0.0, 2.0}
    assert_close(dropped.mean().item(), 1.0, rtol=0.02, atol=0)
    assert not any(isinstance(m, nn.Dropout) for m in overfitting.plain(0.05, 1)[0].modules())


def test_dropout_accuracy_needs_eval(small_run):
    for name in ["dropout", "combined"]:
        modes = small_run[0]["rows"][name]["dropout_modes"]
        assert modes["eval"][0] == modes["eval"][1]  # eval(): the same function every time
        assert max(modes["train"]) < modes["eval"][0]  # train(): units dropped, worse
        assert modes["train"][0] != modes["train"][1]  # and a different net each pass
    assert "plain" in small_run[0]["rows"] and "dropout_modes" not in small_run[0]["rows"]["plain"]


def fake_rows(n, epochs=3):
    """n runs whose accuracies span 60-92%, the lowest point in the last panel."""
    return {f"run{i}": {"history": {"train": [0.9 + 0.01 * e for e in range(epochs)],
                                    "validation": [0.6 if i == n - 1 else 0.8] * epochs}}
            for i in range(n)}


@pytest.mark.parametrize("n, epochs", [(1, 3), (3, 1), (5, 3), (7, 3)])
def test_plot_has_a_panel_per_variant(n, epochs, tmp_path):
    fig = overfitting.plot_gaps(tmp_path / "gaps.png", fake_rows(n, epochs))
    assert len(fig.axes) == n  # the empty places of the last row are removed, not blanked
    assert [ax.get_title() for ax in fig.axes] == [f"run{i}" for i in range(n)]
    for ax in fig.axes:
        assert all(tick == int(tick) for tick in ax.get_xticks())  # whole epochs only
        low, high = ax.get_ylim()
        for line in ax.get_lines():
            assert list(line.get_xdata()) == list(range(epochs))  # from 0, as printed
            assert low < min(line.get_ydata()) and max(line.get_ydata()) < high  # off the border
    assert (tmp_path / "gaps.png").stat().st_size > 5000


def test_plot_written_by_main(small_run):
    from matplotlib.image import imread
    image = imread(small_run[2])
    assert image.shape[:2] == (600, 1200)  # five runs: 2 rows of 4 panels of 3 x 3 in at 100 dpi
    assert image[..., :3].std() > 0.05  # not blank
    assert f"plot written to {small_run[2]}" in small_run[1]


def test_k_folds_cover_every_image_once():
    folds = overfitting.k_folds(10, 3)
    assert [v.tolist() for _, v in folds] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    for train, val in folds:
        assert sorted(train.tolist() + val.tolist()) == list(range(10))


def test_k_fold_cross_validation(mnist_dir, capsys):
    """3 folds of the first 3000 images, 1 epoch (10 steps) of momentum SGD each. Observed fold
    accuracies, seeds 0-2: 0.611-0.725 (plain SGD: 0.547-0.594)."""
    result = overfitting.main(["--variants", "momentum", "--folds", "3", "--epochs", "1",
                               "--limit", "3000", "--data-dir", str(mnist_dir)])
    accs = result["folds"]["momentum"]
    assert len(accs) == 3 and all(0.45 < a < CEILING for a in accs)
    assert [result["rows"][f"momentum fold {k}/3"]["val_acc"] for k in (1, 2, 3)] == accs
    mean, std = 100 * statistics.mean(accs), 100 * statistics.stdev(accs)  # stdev: n - 1, as printed
    assert (f"3-fold cross-validation of momentum: validation accuracy {mean:.2f}% +- {std:.2f}%"
            in capsys.readouterr().out)


def test_folds_need_two(capsys):
    with pytest.raises(SystemExit) as exc:
        overfitting.main(["--folds", "1"])
    assert exc.value.code == 2 and "K >= 2" in capsys.readouterr().err


def test_target_fails_loudly(mnist_dir, capsys):
    """4 epochs of the combined recipe on 500 images (12 steps) reach 58.91% / 54.60% (seeds
    0 / 1): far below a 99.5% target."""
    with pytest.raises(SystemExit) as exc:
        overfitting.main(["--variants", "combined", "--epochs", "1", "--limit", "500",
                          "--target", "0.995", "--data-dir", str(mnist_dir)])
    message = str(exc.value.code)
    assert message.startswith("error: the combined recipe reached")
    assert "below the target 99.5%" in message and "--target 0" in message and "\n" not in message
    printed = capsys.readouterr().out.split("Accuracy: ")[-1].split("/")[0]  # its last test line
    assert f"{int(printed) / 100:.2f}% test accuracy" in message


def test_help_shows_the_variants_as_typed(capsys):
    with pytest.raises(SystemExit):
        overfitting.main(["--help"])
    out = "".join(capsys.readouterr().out.split())  # argparse wraps lines, even inside a word
    assert "(default:plain,l2,momentum,lr_decay,early_stop,dropout,combined)" in out
    assert "(default:0.984)" in out


def test_unknown_variant_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        overfitting.main(["--variants", "plain,bogus"])
    assert exc.value.code == 2
    assert "bogus" in capsys.readouterr().err


def test_missing_data_exits_with_one_line(tmp_path):
    with pytest.raises(SystemExit) as exc:
        overfitting.main(["--data-dir", str(tmp_path / "nowhere")])
    message = str(exc.value.code)
    assert message.startswith("error: MNIST is not in") and "\n" not in message
    assert "get_mnist.py" in message


# The combined recipe with its defaults (up to 40 epochs, the cosine stepped once per epoch over
# all 40, early stopping with patience 10 restoring the best validation loss), seeds 0-4, test
# accuracy: 0.9874, 0.9861, 0.9871, 0.9864, 0.9861 (seed 3 stopped after epoch 39, keeping 29;
# 11 min for all five under load, OMP_NUM_THREADS=1). The cosine stepped per batch before gave
# 0.9872, 0.9861, 0.9869, 0.9862, 0.9871; the 20-epoch recipe before that 98.40% for seed 1, on
# the script's own 98.4% exit. Floor 98.5%.
@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_combined_recipe_clears_98_5_on_every_seed(mnist_dir, seed):
    r = overfitting.main(["--variants", "combined", "--seed", str(seed),
                          "--data-dir", str(mnist_dir)])  # exits non-zero below 98.4% itself
    assert 0.985 <= r["rows"]["combined"]["test_acc"] < 0.995
