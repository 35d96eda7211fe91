"""overfitting.py: variants train and score, dropout needs eval(), early stopping keeps the best."""
import argparse
import copy
import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import overfitting

# One epoch on the first 5000 of the 50k training images (25 SGD steps at lr 0.05, batch 200).
# Observed test accuracy plain / dropout / combined: seed 0: 0.6908 / 0.6920 / 0.7724,
# seed 1: 0.7109 / 0.6910 / 0.7746, seed 2: 0.6433 / 0.6205 / 0.7587 (validation within 0.03 of
# these); dropout left in train(): 0.6069, 0.5847, 0.5461 against 0.6920, 0.6910, 0.6205 in eval().
SMALL = ["--variants", "plain,dropout,combined", "--epochs", "1", "--combined-epochs", "1",
         "--limit", "5000"]
FLOORS = {"plain": 0.50, "dropout": 0.45, "combined": 0.60}
CEILING = 0.99


PLOT = {}


@pytest.fixture(scope="module")
def small_run(mnist_dir, tmp_path_factory):
    PLOT["path"] = tmp_path_factory.mktemp("plot") / "gaps.png"
    return overfitting.main(SMALL + ["--data-dir", str(mnist_dir), "--plot", str(PLOT["path"])])


def test_plot_has_a_panel_per_variant(small_run):
    from matplotlib.image import imread
    image = imread(PLOT["path"])
    assert image.shape[:2] == (600, 1200)  # figsize (12, 6) at 100 dpi
    assert image[..., :3].std() > 0.05  # not blank
    for row in small_run["rows"].values():  # what the panels draw: one point per epoch here
        assert len(row["history"]["train_acc"]) == len(row["history"]["val_acc"]) == 1


def test_k_fold_cross_validation(mnist_dir, capsys):
    """3 folds of the first 3000 images, 1 epoch (10 steps) of momentum SGD each: every image
    validates once. Observed fold accuracies, seeds 0-2: 0.611-0.725 (plain SGD: 0.547-0.594)."""
    r = overfitting.main(["--variants", "momentum", "--folds", "3", "--epochs", "1",
                          "--limit", "3000", "--data-dir", str(mnist_dir)])["momentum"]
    assert len(r["fold_accs"]) == 3 and all(0.45 < a < 0.99 for a in r["fold_accs"])
    mean = sum(r["fold_accs"]) / 3
    sd = (sum((a - mean) ** 2 for a in r["fold_accs"]) / 2) ** 0.5  # sample std, by hand
    assert abs(r["mean"] - mean) < 1e-12 and abs(r["std"] - sd) < 1e-12
    assert "3-fold cross-validation of momentum: " in capsys.readouterr().out


def test_folds_need_two(capsys):
    with pytest.raises(SystemExit) as exc:
        overfitting.main(["--folds", "1"])
    assert exc.value.code == 2 and "K >= 2" in capsys.readouterr().err


def test_small_budget_table(small_run, capsys):
    rows = small_run["rows"]
    assert list(rows) == ["plain", "dropout", "combined"]
    for name, row in rows.items():
        assert FLOORS[name] <= row["test_acc"] < CEILING, name
        assert FLOORS[name] <= row["val_acc"] < CEILING, name
    assert small_run["test_acc"] == rows["combined"]["test_acc"]  # the last variant's result
    # momentum makes the same 25 steps go much further (observed margins 0.06-0.12)
    assert rows["combined"]["test_acc"] > rows["plain"]["test_acc"] + 0.02


def test_dropout_accuracy_needs_eval(small_run):
    modes = small_run["dropout_modes"]
    assert modes["eval"][0] == modes["eval"][1]  # eval(): the same function every time
    assert max(modes["train"]) < modes["eval"][0]  # train(): units dropped, worse


def test_dropout_eval_deterministic_train_not():
    torch.manual_seed(0)
    net = overfitting.build_model(dropout=0.5)
    x = torch.randn(32, 784)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))
    # train() keeps the expected activation: kept units are scaled by 1/(1-p) = 2
    h = torch.ones(100000, 1)
    dropped = net[2](h)  # the first nn.Dropout(0.5)
    assert set(dropped.unique().tolist()) <= {0.0, 2.0}
    assert_close(dropped.mean().item(), 1.0, rtol=0.02, atol=0)


def test_early_stopper_restores_the_best_epoch():
    net = nn.Linear(2, 1)
    stopper = overfitting.EarlyStopper(patience=3)
    val_losses = [1.0, 0.8, 0.9, 0.85, 0.95, 0.7]  # best at epoch 1, three worse after it
    states, stopped_at = [], None
    for epoch, loss in enumerate(val_losses):
        with torch.no_grad():
            net.weight.fill_(epoch)  # a different weight every epoch
        states.append(copy.deepcopy(net.state_dict()))
        if stopper.should_stop(net, loss, epoch):
            stopped_at = epoch
            break
    assert stopped_at == 4 and stopper.best_epoch == 1
    net.load_state_dict(stopper.best_state)
    assert torch.equal(net.weight, states[1]["weight"])  # epoch 1's weights, not the last


def test_cosine_decay_closed_form():
    net = nn.Linear(2, 1)
    optimizer, scheduler = overfitting.make_optimizer(net, {"decay": True}, 0.05, total_steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [0.05 * (1 + math.cos(math.pi * t / 100)) / 2 for t in range(100)]
    assert_close(torch.tensor(lrs, dtype=torch.float64),
                 torch.tensor(expected, dtype=torch.float64))


def test_split_is_fixed_and_disjoint():
    idx = torch.arange(60000)
    (x_tr, _), (x_val, _) = overfitting.split_train_val(idx, idx, 10000)
    assert torch.equal(x_tr, torch.arange(50000))
    assert torch.equal(x_val, torch.arange(50000, 60000))


def test_combined_has_every_remedy():
    args = argparse.Namespace(weight_decay=5e-4, momentum=0.9, patience=3, dropout=0.2,
                              input_dropout=0.1, combined_patience=10)
    assert overfitting.variant_settings("plain", args) == {}
    assert overfitting.variant_settings("early_stop", args) == {"patience": 3}
    assert overfitting.variant_settings("combined", args) == {
        "weight_decay": 5e-4, "momentum": 0.9, "decay": True, "patience": 10, "dropout": 0.2,
        "input_dropout": 0.1}


def test_target_fails_loudly():
    with pytest.raises(SystemExit) as exc:
        overfitting.check_target(0.9839, 0.984)
    assert "98.39%" in str(exc.value.code) and "98.4%" in str(exc.value.code)


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


# The combined recipe with its defaults (40-epoch cap, cosine over the cap, early stopping with
# patience 10 restoring the best validation loss), seeds 0-4, test accuracy: 0.9872, 0.9861,
# 0.9869, 0.9862, 0.9871 (validation 0.9863, 0.9861, 0.9851, 0.9861, 0.9867; weights kept from
# epochs 34, 37, 36, 29, 37 of 40). The 20-epoch recipe before it gave 98.40% for seed 1: the
# script's own 98.4% exit sat on a knife edge. Floor 98.5% for every seed.
@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_combined_recipe_clears_98_5_on_every_seed(mnist_dir, seed):
    r = overfitting.main(["--variants", "combined", "--seed", str(seed),
                          "--data-dir", str(mnist_dir)])  # exits non-zero below 98.4% itself
    assert 0.985 <= r["rows"]["combined"]["test_acc"] < 0.995
