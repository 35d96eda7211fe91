"""tb_demo into a temporary logdir, read back with TensorBoard's own EventMultiplexer, then served
by a real `tensorboard` process on a free loopback port."""
import io
import json
import math
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

# The same small budget as test_visdom_demo (the same training): 30 steps of 200 at lr 0.05.
# Test accuracy after it, seeds 0-3: 0.749, 0.710, 0.711, 0.746.
LIMIT, BATCH = 6000, 200
ARGS = ["--epochs", "1", "--limit", str(LIMIT), "--batch-size", str(BATCH), "--lr", "0.05",
        "--seed", "0", "--device", "cpu"]
STEPS = math.ceil(LIMIT / BATCH)
PARAMS = {"0.weight": 784 * 200, "0.bias": 200, "2.weight": 200 * 200, "2.bias": 200,
          "4.weight": 200 * 10, "4.bias": 10}  # the MLP's parameters and their sizes


def run_demo(logdir, mnist_dir, writer):
    """Run the demo once; load everything it wrote (size_guidance 0: keep every event)."""
    result = tb_demo.main(["--logdir", str(logdir), "--data-dir", str(mnist_dir),
                           "--writer", writer, *ARGS])
    events = EventMultiplexer(size_guidance={"scalars": 0, "images": 0, "histograms": 0,
                                             "tensors": 0})
    events.AddRunsFromDirectory(str(logdir))
    events.Reload()
    return result, events, Path(result["run_dir"]).name, logdir


@pytest.fixture(scope="module")
def logged(tmp_path_factory, mnist_dir):
    return run_demo(tmp_path_factory.mktemp("runs"), mnist_dir, "tensorboardX")


def test_torch_writer_writes_the_same_tags_and_values(logged, tmp_path, mnist_dir):
    """torch.utils.tensorboard.SummaryWriter, the drop-in: the same runs, tags and losses."""
    _, events_x, run_x, _ = logged
    _, events_t, run_t, _ = run_demo(tmp_path, mnist_dir, "torch")
    # add_scalars' runs: tensorboardX names them test/loss, torch test_loss (one folder level)
    runs_x = {r.replace(run_x, "RUN").replace("/", "_"): t for r, t in events_x.Runs().items()}
    runs_t = {r.replace(run_t, "RUN").replace("/", "_"): t for r, t in events_t.Runs().items()}
    assert len(runs_x) == len(runs_t) == 6  # the run, test x2, the notes' group x3
    for kind in ["scalars", "images", "histograms"]:
        assert {r: sorted(t[kind]) for r, t in runs_x.items()} == \
               {r: sorted(t[kind]) for r, t in runs_t.items()}, kind
    assert values(events_x.Scalars(run_x, "train/loss")) == \
           values(events_t.Scalars(run_t, "train/loss"))  # same seed, same training


def values(scalar_events):
    return [e.value for e in scalar_events], [e.step for e in scalar_events]


def test_train_loss_every_step(logged):
    _, events, run, _ = logged
    loss, steps = values(events.Scalars(run, "train/loss"))
    assert steps == list(range(1, STEPS + 1))
    # Untrained, the 10 classes are about equally likely: cross entropy ≈ ln 10.
    assert loss[0] == pytest.approx(math.log(10), abs=0.1)
    assert sum(loss[-5:]) / 5 < loss[0] - 0.3


def test_add_scalars_makes_one_run_per_line(logged):
    result, events, run, _ = logged
    assert {f"{run}/test/loss", f"{run}/test/accuracy"} <= set(events.Runs())
    loss, steps = values(events.Scalars(f"{run}/test/loss", "test"))
    acc, acc_steps = values(events.Scalars(f"{run}/test/accuracy", "test"))
    assert steps == acc_steps == [0, STEPS]  # the untrained net, then after the epoch
    assert loss[0] == pytest.approx(math.log(10), abs=0.1) and acc[0] < 0.25
    assert loss[1] == pytest.approx(result["test_loss"], rel=1e-6)  # stored as float32
    assert acc[1] == pytest.approx(result["test_acc"], rel=1e-6)
    assert 0.6 < result["test_acc"] < 0.95  # floor under the worst seed; a leak guard


def test_the_notes_group_example(logged):
    _, events, run, _ = logged
    n = torch.arange(tb_demo.GROUP_STEPS, dtype=torch.float64)
    for name, curve in [("xsinx", n * n.sin()), ("xcosx", n * n.cos()), ("arctanx", n.atan())]:
        got, steps = values(events.Scalars(f"{run}/data/scalar_group/{name}", "data/scalar_group"))
        assert steps == list(range(tb_demo.GROUP_STEPS))
        torch.testing.assert_close(torch.tensor(got, dtype=torch.float64), curve,
                                   rtol=1e-6, atol=1e-5)  # event files store float32
    random, _ = values(events.Scalars(run, "data/scalar1"))
    assert len(random) == tb_demo.GROUP_STEPS and all(0 <= v < 1 for v in random)


def test_image_is_the_grid_of_test_digits(logged, mnist_dir):
    _, events, run, _ = logged
    images = events.Images(run, "x")
    assert [e.step for e in images] == [0, STEPS]
    # make_grid: 2 px between and around 28x28 images, 8 per row, 32 images in 4 rows.
    width, height = 8 * 30 + 2, 4 * 30 + 2
    png = Image.open(io.BytesIO(images[-1].encoded_image_string))
    assert (images[-1].width, images[-1].height) == png.size == (width, height)
    from torchvision import datasets
    first = datasets.MNIST(mnist_dir, train=False).data[0]  # (28, 28) uint8, the raw file
    pixels = torch.from_numpy(np.array(png.convert("L")))  # (122, 242)
    # The digit as in the file: Normalize was undone before the grid (to within rounding).
    assert (pixels[2:30, 2:30].int() - first.int()).abs().max() <= 1


def test_histograms_of_every_parameter(logged):
    _, events, run, _ = logged
    for tag, size in PARAMS.items():
        hists = events.Histograms(run, tag)
        assert [h.step for h in hists] == [0, STEPS]
        assert hists[0].histogram_value.num == size
        assert sum(hists[0].histogram_value.bucket) == size
    # At step 0, PyTorch's default Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in 784;
    # 156800 draws come within a hair of both bounds.
    first = events.Histograms(run, "0.weight")[0].histogram_value
    assert -1 / 28 <= first.min < -1 / 28 + 1e-3
    assert 1 / 28 - 1e-3 < first.max <= 1 / 28


def test_text_holds_the_predictions(logged, mnist_dir):
    result, events, run, _ = logged
    texts = events.Tensors(run, "pred/text_summary")  # add_text("pred") stores it under this tag
    assert [t.step for t in texts] == [0, STEPS]
    text = tensor_util.make_ndarray(texts[-1].tensor_proto).item().decode()
    rows = text.split("\n")
    assert len(rows) == tb_demo.SHOW // 8 and all(r.startswith("    ") for r in rows)
    pred = [int(d) for d in text.split()]
    labels = datasets.MNIST(mnist_dir, train=False).targets[:tb_demo.SHOW].tolist()
    # right about as often as the test accuracy says: seeds 0-3 get 25, 21, 25, 28 of 32
    assert len(pred) == tb_demo.SHOW and sum(p == t for p, t in zip(pred, labels)) >= 18


def test_tensorboard_serves_the_tags(logged):
    _, _, run, logdir = logged
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


def test_unwritable_logdir_one_line(tmp_path, mnist_dir):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit) as exc:  # a folder inside a file: fails even for root
        tb_demo.main(["--logdir", str(blocker / "runs"), "--data-dir", str(mnist_dir), *ARGS])
    message = str(exc.value)
    assert message.startswith(f"error: cannot write TensorBoard logs to {blocker}/runs/")
    assert "\n" not in message
    assert not (blocker.parent / "runs").exists()
