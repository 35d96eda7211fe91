"""tb_demo into a temporary logdir, read back with TensorBoard's own EventMultiplexer, then served
by a real `tensorboard` process on a free loopback port."""
import contextlib
import io
import json
import math
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
from tensorboard.util import tensor_util
from torchvision import datasets

import tb_demo
from conftest import lesson_namespace, try_lines

# The same small budget as test_visdom_demo (the same training): 2 epochs of 15 steps of 200
# at lr 0.05 (not the notes' 0.01, so that 30 steps learn something clear). Test accuracy after
# it, seeds 0-3: 0.727, 0.732, 0.699, 0.713 (1 epoch on 6000 images: 0.749, 0.710, 0.711, 0.746).
EPOCHS, LIMIT, BATCH = 2, 3000, 200
ARGS = ["--epochs", str(EPOCHS), "--limit", str(LIMIT), "--batch-size", str(BATCH), "--lr", "0.05",
        "--seed", "0", "--device", "cpu", "--log-interval", "10"]
STEPS = EPOCHS * math.ceil(LIMIT / BATCH)
TESTED_AT = [0, STEPS // 2, STEPS]  # the untrained net, then after each epoch
GROUP_STEPS = 100  # the notes' example group: n_iter 0..99
PARAMS = {"0.weight": 784 * 200, "0.bias": 200, "2.weight": 200 * 200, "2.bias": 200,
          "4.weight": 200 * 10, "4.bias": 10}  # the MLP's parameters and their sizes


def read_events(logdir):
    """Everything TensorBoard would read from logdir (size_guidance 0: keep every event)."""
    events = EventMultiplexer(size_guidance={"scalars": 0, "images": 0, "histograms": 0,
                                             "tensors": 0})
    events.AddRunsFromDirectory(str(logdir))
    events.Reload()
    return events


@pytest.fixture(scope="module")
def logged(tmp_path_factory, mnist_dir):
    """Two runs into one logdir, as a learner's runs/ fills up: the notes' tensorboardX writer
    under the default name, then torch's writer under --run-name. Returns what they printed."""
    logdir = tmp_path_factory.mktemp("runs")
    common = ["--logdir", str(logdir), "--data-dir", str(mnist_dir), *ARGS]
    out_x, out_t = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out_x):
        result = tb_demo.main(common)
    with contextlib.redirect_stdout(out_t):
        result_t = tb_demo.main([*common, "--writer", "torch", "--run-name", "torch-writer"])
    run = re.search(r"event files in (\S+)\n", out_x.getvalue())[1]  # where it says it wrote
    return dict(result=result, result_t=result_t, events=read_events(logdir), logdir=logdir,
                run=Path(run).relative_to(logdir).as_posix(), out=out_x.getvalue(),
                out_t=out_t.getvalue())


def values(scalar_events):
    return [e.value for e in scalar_events], [e.step for e in scalar_events]


def test_each_run_has_its_own_named_folder(logged):
    """Issue 20: two runs' twelve TensorBoard runs, each starting with its own run's name."""
    run, logdir = logged["run"], logged["logdir"]
    assert re.fullmatch(r"tb_demo-\d{8}-\d{6}", run)  # the default: tb_demo-<date>-<time>
    assert f"event files in {logdir / 'torch-writer'}\n" in logged["out_t"]
    runs = set(logged["events"].Runs())
    # add_scalars' sub-runs: tensorboardX nests them (test/loss), torch joins them (test_loss)
    assert {r for r in runs if r.startswith(run)} == {run} | {
        f"{run}/{sub}" for sub in ["test/loss", "test/accuracy", "data/scalar_group/xsinx",
                                   "data/scalar_group/xcosx", "data/scalar_group/arctanx"]}
    assert {r for r in runs if r.startswith("torch-writer")} == {"torch-writer"} | {
        f"torch-writer/{sub}" for sub in ["test_loss", "test_accuracy", "data_scalar_group_xsinx",
                                          "data_scalar_group_xcosx", "data_scalar_group_arctanx"]}
    assert len(runs) == 12
    # It prints the command that shows every run of the logdir.
    assert f"tensorboard --logdir {logdir}\n" in logged["out"]
    assert "== 可视化 / tensorboardX ==\n" in logged["out"]  # the notes' heading


def test_a_taken_run_name_fails_before_any_work(logged, mnist_dir):
    logdir = logged["logdir"]
    before = sorted(p.name for p in (logdir / "torch-writer").iterdir())
    with pytest.raises(SystemExit) as exc:
        tb_demo.main(["--logdir", str(logdir), "--run-name", "torch-writer",
                      "--data-dir", str(mnist_dir), *ARGS])
    message = str(exc.value)
    assert message.startswith(f"error: cannot make {logdir / 'torch-writer'} (File exists);")
    assert "--run-name" in message and "\n" not in message
    assert sorted(p.name for p in (logdir / "torch-writer").iterdir()) == before  # untouched


def test_unwritable_logdir_one_line(tmp_path, mnist_dir):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit) as exc:  # a folder inside a file: fails even for root
        tb_demo.main(["--logdir", str(blocker / "runs"), "--data-dir", str(mnist_dir), *ARGS])
    message = str(exc.value)
    assert message.startswith(f"error: cannot make {blocker}/runs/tb_demo-")
    assert "\n" not in message


def test_torch_writer_writes_the_same_tags_and_values(logged):
    """torch.utils.tensorboard.SummaryWriter, the drop-in: the same tags and the same losses."""
    events, run = logged["events"], logged["run"]
    runs = events.Runs()
    by_kind = {}
    for name, prefix in [("x", run), ("torch", "torch-writer")]:
        by_kind[name] = {r[len(prefix):].replace("/", "_"): t for r, t in runs.items()
                         if r.startswith(prefix)}
    for kind in ["scalars", "images", "histograms"]:
        assert {r: sorted(t[kind]) for r, t in by_kind["x"].items()} == \
               {r: sorted(t[kind]) for r, t in by_kind["torch"].items()}, kind
    assert values(events.Scalars(run, "train/loss")) == \
           values(events.Scalars("torch-writer", "train/loss"))  # same seed, same training


def test_train_loss_every_step(logged):
    loss, steps = values(logged["events"].Scalars(logged["run"], "train/loss"))
    assert steps == list(range(1, STEPS + 1))
    # Untrained, the 10 classes are about equally likely: cross entropy ≈ ln 10.
    assert loss[0] == pytest.approx(math.log(10), abs=0.1)
    assert sum(loss[-5:]) / 5 < loss[0] - 0.3
    # The notes' Train Epoch lines, every --log-interval 10 batches: after 0 and 2000 images
    assert re.findall(r"Train Epoch: (\d) \[(\d+)/3000", logged["out"]) == [
        ("0", "0"), ("0", "2000"), ("1", "0"), ("1", "2000")]


def test_add_scalars_makes_one_run_per_line(logged):
    events, run = logged["events"], logged["run"]
    loss, steps = values(events.Scalars(f"{run}/test/loss", "test"))
    acc, acc_steps = values(events.Scalars(f"{run}/test/accuracy", "test"))
    assert steps == acc_steps == TESTED_AT
    assert loss[0] == pytest.approx(math.log(10), abs=0.1) and acc[0] < 0.25
    assert loss[2] < loss[1] < loss[0] - 0.3
    assert 0.6 < acc[2] < 0.95  # floor under the worst seed; a leak guard
    # The printed test lines say what the event files hold (stored as float32)
    lines = re.findall(r"Average loss: (\d\.\d{4}), Accuracy: (\d+)/10000", logged["out"])
    assert [float(t) for t, _ in lines] == pytest.approx(loss[1:], abs=5e-5)
    assert [int(c) / 10000 for _, c in lines] == pytest.approx(acc[1:], abs=1e-6)
    assert "the notes' figure" not in logged["out"]  # one test batch: the true mean only


def test_the_notes_group_example(logged):
    events, run = logged["events"], logged["run"]
    n = torch.arange(GROUP_STEPS, dtype=torch.float64)
    for name, curve in [("xsinx", n * n.sin()), ("xcosx", n * n.cos()), ("arctanx", n.atan())]:
        got, steps = values(events.Scalars(f"{run}/data/scalar_group/{name}", "data/scalar_group"))
        assert steps == list(range(GROUP_STEPS))
        torch.testing.assert_close(torch.tensor(got, dtype=torch.float64), curve,
                                   rtol=1e-6, atol=1e-5)  # event files store float32
    random, _ = values(events.Scalars(run, "data/scalar1"))
    assert len(random) == GROUP_STEPS and all(0 <= v < 1 for v in random)
    assert len(set(random)) == GROUP_STEPS  # a new draw each step


def test_image_is_the_grid_of_test_digits(logged, mnist_dir):
    images = logged["events"].Images(logged["run"], "x")
    assert [e.step for e in images] == TESTED_AT
    # add_images tiles the 28x28 images edge to edge, 8 per row: 32 images in 4 rows.
    width, height = 8 * 28, 4 * 28
    png = Image.open(io.BytesIO(images[-1].encoded_image_string))
    assert (images[-1].width, images[-1].height) == png.size == (width, height)
    raw = datasets.MNIST(mnist_dir, train=False).data  # (10000, 28, 28) uint8, the raw file
    pixels = torch.from_numpy(np.array(png.convert("L")))  # (112, 224)
    # The digits as in the file: Normalize was undone before the grid (to within rounding).
    # First cell = test image 0, second cell = image 1, second row's first cell = image 8.
    assert (pixels[:28, :28].int() - raw[0].int()).abs().max() <= 1
    assert (pixels[:28, 28:56].int() - raw[1].int()).abs().max() <= 1
    assert (pixels[28:56, :28].int() - raw[8].int()).abs().max() <= 1


def test_histograms_of_every_parameter(logged):
    events, run = logged["events"], logged["run"]
    for tag, size in PARAMS.items():
        hists = events.Histograms(run, tag)
        assert [h.step for h in hists] == TESTED_AT
        assert hists[0].histogram_value.num == size
        assert sum(hists[0].histogram_value.bucket) == size
    # At step 0, PyTorch's default Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in 784;
    # 156800 draws come within a hair of both bounds.
    first = events.Histograms(run, "0.weight")[0].histogram_value
    assert -1 / 28 <= first.min < -1 / 28 + 1e-3
    assert 1 / 28 - 1e-3 < first.max <= 1 / 28


def test_text_holds_the_predictions(logged, mnist_dir):
    texts = logged["events"].Tensors(logged["run"], "pred/text_summary")  # add_text("pred")
    assert [t.step for t in texts] == TESTED_AT
    text = tensor_util.make_ndarray(texts[-1].tensor_proto).item().decode()
    rows = text.split("\n")
    assert len(rows) == tb_demo.SHOW // 8 and all(r.startswith("    ") for r in rows)
    pred = [int(d) for d in text.split()]
    labels = datasets.MNIST(mnist_dir, train=False).targets[:tb_demo.SHOW].tolist()
    # right about as often as the test accuracy says: seeds 0-3 get 24, 26, 23, 22 of 32
    assert len(pred) == tb_demo.SHOW and sum(p == t for p, t in zip(pred, labels)) >= 18


def test_the_copied_lesson_trains_and_logs(mnist_dir, tmp_path):
    """The lesson part alone (no main, no plumbing, no __file__) with the notes' own writer: fit
    for one epoch of 10 steps on real MNIST, read back from the real event file."""
    lesson = lesson_namespace("tb_demo")
    train = datasets.MNIST(mnist_dir, train=True)
    x, y = lesson["to_inputs"](train.data[:2000]), train.targets[:2000]
    torch.manual_seed(0)
    model = lesson["build_model"]()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with lesson["open_writer"](tmp_path / "run") as writer:  # tensorboardX's, the notes'
        losses, tests = lesson["fit"](writer, model, optimizer, x, y, x, y, epochs=1,
                                      batch_size=200, generator=torch.Generator().manual_seed(0),
                                      log_interval=100)
    (loss0, _), (loss, correct) = tests  # the untrained net, then after the epoch
    assert len(losses) == 10 and not model.training  # fit leaves it in eval() after its test
    assert loss < loss0 - 0.1  # 10 SGD steps at lr 0.05 lower the loss (2.30 -> ~2.0)
    with torch.no_grad():  # the accuracy counted here, from the model itself
        expected = (model(x).argmax(dim=1) == y).float().mean().item()
    events = read_events(tmp_path)
    acc, steps = values(events.Scalars("run/test/accuracy", "test"))
    assert steps == [0, 10] and acc[1] == pytest.approx(expected)
    train_loss, train_steps = values(events.Scalars("run", "train/loss"))
    assert train_steps == list(range(1, 11)) and train_loss == pytest.approx(losses, rel=1e-6)


def check_torch_writer(out, events, logdir, logged):
    """PyTorch's own SummaryWriter: a run of its own, add_scalars' lines joined with "_" where
    tensorboardX nests them, and the same training losses as the notes' writer (same seed)."""
    assert f"event files in {logdir / 'torch-writer'}\n" in out
    assert set(events.Runs()) == {"torch-writer"} | {
        f"torch-writer/{sub}" for sub in ["test_loss", "test_accuracy", "data_scalar_group_xsinx",
                                          "data_scalar_group_xcosx", "data_scalar_group_arctanx"]}
    assert values(events.Scalars("torch-writer", "train/loss")) == \
           values(logged["events"].Scalars(logged["run"], "train/loss"))
    assert sorted(events.Runs()["torch-writer"]["histograms"]) == sorted(PARAMS)


TRY_CHECKS = {"--writer torch --run-name torch-writer": check_torch_writer}


@pytest.mark.parametrize("flags, said", try_lines("tb_demo"))
def test_try_experiments(flags, said, logged, mnist_dir, tmp_path):
    """Each Try: line on the small budget of `logged`, into a logdir of its own."""
    check = TRY_CHECKS[flags]  # an experiment with no check here fails (KeyError)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tb_demo.main(["--logdir", str(tmp_path), "--data-dir", str(mnist_dir), *ARGS,
                      *flags.split()])
    check(out.getvalue(), read_events(tmp_path), tmp_path, logged)


def test_tensorboard_serves_the_tags(logged):
    run, logdir = logged["run"], logged["logdir"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tensorboard = Path(sys.executable).parent / "tensorboard"
    proc = subprocess.Popen([str(tensorboard), "--logdir", str(logdir), "--host", "127.0.0.1",
                             "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        tags, deadline = {}, time.monotonic() + 60
        while f"{run}/test/accuracy" not in tags and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                url = f"http://127.0.0.1:{port}/data/plugin/scalars/tags"
                with urllib.request.urlopen(url, timeout=5) as response:
                    tags = json.load(response)
            except OSError:  # not listening yet
                pass
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert {"train/loss", "data/scalar1"} <= set(tags[run])
    assert "test" in tags[f"{run}/test/loss"] and "test" in tags[f"{run}/test/accuracy"]
    assert "train/loss" in tags["torch-writer"]  # both runs of the logdir, side by side


# The notes' full recipe (10 epochs, lr 0.01, batch 200); the notes print no figure for it.
# Observed (mean cross entropy, correct of 10000), seeds 0/1/2: (0.2223, 9341), (0.2187, 9376),
# (0.2137, 9374); the first 32 test images: 31 of 32 right for each.
@pytest.mark.slow
def test_the_notes_recipe(mnist_dir, tmp_path):
    r = tb_demo.main(["--logdir", str(tmp_path), "--data-dir", str(mnist_dir), "--device", "cpu"])
    assert r["steps"] == 10 * 300
    assert 0.92 <= r["test_acc"] < 0.99
    assert 0.15 < r["test_loss"] < 0.26
