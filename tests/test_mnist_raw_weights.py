"""mnist_raw_weights.py: the raw-tensor MLP learns, is reproducible, the notes' two runs (both
with the ReLU on the logits, --final-relu) are printed beside ours and reproduced over seeds."""
import math
import re

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import mnist_raw_weights
from conftest import REPO, evaluated_the_notes_way, lesson_namespace, try_lines

NOTES_DIR = REPO.parent / "shared" / "seeds"  # the notes, the specification (README: The notes)
NOTES_FILES = {"details": "000", "classification": "004"}  # README's short names


def notes_test_lines(short_name):
    """{epoch: "Average loss: 0.0008, Accuracy: 9513/10000 (95%)"}, read from the notes' printed
    output: an epoch is the one of the `Train epoch: N` lines above a test line, else the next."""
    files = sorted(NOTES_DIR.glob(f"{NOTES_FILES[short_name]}_*.txt"))
    if not files:
        pytest.skip(f"the notes are not in {NOTES_DIR}")
    lines, epoch = {}, -1
    for line in files[0].read_text(encoding="utf-8").splitlines():
        if match := re.match(r"Train [Ee]poch: (\d+) ", line):
            epoch = int(match[1]) - 1  # the test line below it is this epoch's
        elif match := re.match(r"Test set: (Average loss: \d\.\d{4}, Accuracy: \d+/10000 \(\d+%\))",
                               line):
            epoch += 1
            lines[epoch] = match[1]
    return lines

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


def printed_test_line(out):
    """(Average loss, correct, the notes' figure) of the last printed test line."""
    found = re.findall(r"Test set: Average loss: (\d+\.\d{4}), Accuracy: (\d+)/10000 \(\d+%\)  "
                       r"\(the notes' figure: (\d\.\d{4})\)", out)
    return float(found[-1][0]), int(found[-1][1]), float(found[-1][2])


def test_prints_the_notes_lines_and_plots(mnist_dir, capsys, tmp_path, monkeypatch):
    models, evaluate = [], mnist_raw_weights.evaluate
    monkeypatch.setattr(mnist_raw_weights, "evaluate",  # a spy: keeps the model it is given
                        lambda model, x, y: models.append(model) or evaluate(model, x, y))
    mnist_raw_weights.main(["--epochs", "1", "--limit", "400", "--log-interval", "1",
                            "--data-dir", str(mnist_dir), "--plot", str(tmp_path / "p.png")])
    out = capsys.readouterr().out
    # The true mean on the notes' line; beside it the notes' figure: their sum of the 50 test
    # batches' means divided by 10000 images. Both recomputed the notes' way on the trained net.
    mean, notes_figure, correct = evaluated_the_notes_way(models[-1], mnist_dir)
    printed_mean, printed_correct, printed_figure = printed_test_line(out)
    assert printed_mean == pytest.approx(mean, abs=6e-5)  # 4 decimals printed
    assert printed_figure == pytest.approx(notes_figure, abs=6e-5)
    assert abs(printed_correct - correct) <= 2  # float noise can flip a near-tie
    assert out.count("Test set: Average loss") == 1
    assert "== 多分类问题 / multi-class classification ==" in out
    from matplotlib.image import imread
    image = imread(tmp_path / "p.png")
    assert image.shape[:2] == (400, 1000) and image[..., :3].std() > 0.05  # real, not blank
    # 400 images = 2 batches: lines at batch 0 and 1, in the notes' format.
    assert "Train Epoch: 0 [0/400 (0%)]\tLoss: " in out
    assert "Train Epoch: 0 [200/400 (50%)]\tLoss: " in out
    assert "epochs: 1, time:" in out


def test_the_notes_lines_are_printed_beside_ours(capsys):
    """Each epoch's lines are the notes' own test lines of that epoch, read from their text: the
    details notes' ten (7083 -> 8437), the classification notes' last three (9513, 9540, 9556)."""
    details, classification = notes_test_lines("details"), notes_test_lines("classification")
    assert sorted(details) == list(range(10)) and sorted(classification) == [7, 8, 9]
    for epoch in range(12):
        mnist_raw_weights.print_beside_the_notes(epoch, [1000] * 10)  # no dead class
        printed = capsys.readouterr().out.split("\n")
        expected = [f"the {name} notes (--final-relu run): {lines[epoch]}" for name, lines in
                    [("details", details), ("classification", classification)] if epoch in lines]
        assert printed == (expected + ["", ""] if expected else [""])
    mnist_raw_weights.print_beside_the_notes(20, [0, 5, 0, 1, 1, 1, 1, 1, 1, 9990])
    assert capsys.readouterr().out == "classes 0, 2 are never predicted\n\n"


def check_randn_with_final_relu(r, out):
    # The details notes' "锁定在10%": after the first huge steps every training logit is
    # negative, the final ReLU makes them all 0, softmax is uniform and the loss is exactly ln 10
    # with no gradient. On the test set nearly every image gets ten zero logits and argmax picks
    # class 0 (980 of the 10000 test labels are 0). Observed on 10000 images (50 steps), test
    # accuracy seeds 0-3: 0.0985, 0.0980, 0.0981, 0.0979, last training loss ln 10 for all four;
    # images predicted as class 0, seeds 0-2: 9986, 9996, 9999.
    assert r["test_acc"] <= 0.15
    assert sum(r["predicted_per_class"]) == 10000 and r["predicted_per_class"][0] >= 9900
    assert_close(r["train_loss"], math.log(10), rtol=1e-6, atol=0)


def check_randn_alone_trains(r, out):
    # randn init without the final ReLU: logits in the hundreds, a test loss of ~100, yet it
    # learns. Observed on 10000 images, seeds 0-3: 0.7833, 0.7984, 0.8210, 0.7953 (a full epoch,
    # as the Try: line says, seeds 0-1: 0.8309, 0.8741, test loss 22.7, 32.7).
    assert 0.70 <= r["test_acc"] < 0.99 and r["test_loss"] > 10
    assert "never predicted" not in out


def check_seed_7_loses_class_8(r, out):
    # kaiming + the final ReLU, seed 7: the digit 8's logit is cut to 0 for every image after
    # the first steps and never comes back. Observed: after 50 steps (10000 images) 6526/10000,
    # class 8 never predicted; a full epoch 8170; ten epochs 8654, class 8 dead in every epoch
    # (the slow tier asserts the ten epochs).
    assert r["predicted_per_class"][8] == 0
    assert "class 8 is never predicted\n" in out
    assert 0.5 <= r["test_acc"] <= 0.9  # the other nine classes still learn


TRY_CHECKS = {"--init normal --final-relu --epochs 1": check_randn_with_final_relu,
              "--init normal --epochs 1": check_randn_alone_trains,
              "--final-relu --seed 7": check_seed_7_loses_class_8}


@pytest.mark.parametrize("flags, said", try_lines("mnist_raw_weights"))
def test_try_experiments(flags, said, mnist_dir, capsys):
    """Each Try: line of the docstring on a small budget: one epoch on 10000 images."""
    check = TRY_CHECKS[flags]  # an experiment with no check here fails (KeyError)
    r = mnist_raw_weights.main(flags.split() + ["--epochs", "1", "--limit", "10000",
                                                "--data-dir", str(mnist_dir)])
    check(r, capsys.readouterr().out)


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
    # fit: the epoch loop, with what it calls; here tested on its own training images
    losses, tests = lesson["fit"](model, optimizer, x, y, x, y, epochs=2, batch_size=200,
                                  generator=torch.Generator().manual_seed(0), log_interval=100)
    assert len(losses) == 20 and len(tests) == 2
    assert tests[-1][0] < 0.8 * loss0  # 20 SGD steps lower the loss
    assert sum(tests[-1][2]) == 2000  # every image predicted as some class


# Ours (no ReLU on the logits), 10 epochs, batch 200, lr 0.01, kaiming init. Observed test
# accuracy, seeds 0/1/2: 0.9554 / 0.9567 / 0.9553 (mean cross entropy 0.1491 / 0.1501 / 0.1476;
# seed 0 on one thread: 9554, 0.1492). Every class is predicted.
@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ours_reaches_95_percent(mnist_dir, seed):
    r = mnist_raw_weights.main(["--seed", str(seed), "--data-dir", str(mnist_dir)])
    assert 0.953 <= r["test_acc"] < 0.99
    assert min(r["predicted_per_class"]) > 800


# --final-relu, the notes' network (kaiming and the ReLU on the logits), 10 epochs: whether a
# class dies depends on the draw. Of seeds 0-14, 13 recover to 9481-9551 (2 threads, 2026-12-06;
# a dead logit can come back as the hidden layers move; seed 0 lost class 2 after epoch 0 and
# ended at 9527 on 2 threads, 9540 on one)
# and seeds 7 and 9 keep a class dead to the end: 8654 (class 8) and 8630 (class 4), ~86%. The
# classification notes' 9556 is a recovered draw, the details notes' 8437 (84%) a lost one.
# The notes' figure (mean / 200): 0.0007 in the classification notes; seed 0's 0.1524 / 200
# prints 0.0008. Asserted: seeds 0-2 recover to within 0.6 points of 9556 and the notes' figure
# within one printed unit; seeds 7 and 9 lose their class, named on the last epoch's line.
@pytest.mark.slow
@pytest.mark.parametrize("seed, dead", [(0, None), (1, None), (2, None), (7, 8), (9, 4)])
def test_final_relu_over_seeds(mnist_dir, capsys, seed, dead):
    r = mnist_raw_weights.main(["--final-relu", "--seed", str(seed), "--data-dir", str(mnist_dir)])
    last_epoch = capsys.readouterr().out.split("Test set:")[-1]
    their_last = notes_test_lines("classification")[9]  # "Average loss: 0.0007, ... 9556/10000"
    notes_correct = int(re.search(r"Accuracy: (\d+)/", their_last)[1])
    if dead is None:
        assert abs(r["correct"] - notes_correct) <= 60 and "never predicted" not in last_epoch
        assert abs(r["test_loss"] / 200 - 0.0007) <= 0.0001 + 5e-5  # their 0.0007, +- 1 unit
    else:
        assert r["predicted_per_class"][dead] == 0
        assert f"class {dead} is never predicted\n" in last_epoch
        assert 0.83 <= r["test_acc"] <= 0.90  # nine classes of ten learnt: the details notes' 84%
