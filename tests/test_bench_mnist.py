"""bench_mnist.py: the FLOP count against its closed form, the three ways train the same net on
the same images, the clock waits for cuda and mps, --threads and --load leave nothing behind (no
speed is asserted: a test cannot know the machine; the README's figures are the benchmark's)."""
import contextlib
import io
import types

import psutil
import pytest
import torch
from torch.testing import assert_close

import bench_mnist
from conftest import lesson_namespace, try_lines

# Matmul FLOPs per image of 784-200-200-10, written out: forward 2*(784*200 + 200*200 + 200*10),
# the weight gradients as much again, the input gradients of layers 2 and 3 (not into the images).
PER_IMAGE = 2 * (784 * 200 + 200 * 200 + 200 * 10) * 2 + 2 * (200 * 200 + 200 * 10)


def test_flops_closed_form():
    assert PER_IMAGE == 879_200
    assert bench_mnist.flops_per_epoch([784, 200, 200, 10], 60000) == 60000 * PER_IMAGE
    assert round(60000 * PER_IMAGE / 1e9, 2) == 52.75  # the docstring's Expect
    # a second shape, by hand: forward 2*(3*4 + 4*5) = 64, weight grads 64, input grads 2*20 = 40
    assert bench_mnist.flops_per_epoch([3, 4, 5], 7) == 7 * 168


def test_flops_match_the_matmuls_autograd_runs():
    """Count the FLOPs of the actual forward and backward with torch's FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode
    lesson = lesson_namespace("bench_mnist")  # copy-out: the lesson part alone
    net = lesson["build_model"](lesson["SIZES"])
    x, y = torch.randn(50, 784), torch.randint(0, 10, (50,))
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(net(x), y).backward()
    assert counter.get_total_flops() == lesson["flops_per_epoch"](lesson["SIZES"], 50)


def quiet_main(argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        r = bench_mnist.main(argv)
    return r, out.getvalue()


def test_small_bench_runs_every_way(mnist_dir):
    """Every way trains the same fresh net on the same 400 images (2 steps) and reports."""
    r, out = quiet_main(["--limit", "400", "--data-dir", str(mnist_dir)])
    assert r["n"] == 400 and r["flops_per_epoch"] == 400 * PER_IMAGE
    (setting, ways), = r["runs"].items()  # one block: torch's own thread count, no load
    assert setting == (torch.get_num_threads(), 0)
    assert f"-- intra-op threads: {setting[0]}, busy processes beside: 0 --" in out
    assert list(ways) == ["notes", "tensor", "floor"]
    assert "one epoch: 400 images, batch 200, 784-200-200-10 MLP, 0.35 GFLOP of matmuls" in out
    assert "time notes/tensor: " in out and "time tensor/floor: " in out
    for way in ways.values():
        assert way.seconds > 0 and 0 < way.loss < 2.5  # two steps: near ln 10 = 2.30
    # (a) and (b): the same pixels in the same order, so the same steps; (c) takes the images
    # in file order: another loss
    assert_close(ways["notes"].loss, ways["tensor"].loss, rtol=1e-5, atol=0)
    assert ways["floor"].loss != ways["tensor"].loss


def children():
    return {c.pid for c in psutil.Process().children()}


def check_same_loss_both_pipelines(r):
    (ways,) = r["runs"].values()
    assert list(ways) == ["notes", "tensor"]
    assert_close(ways["notes"].loss, ways["tensor"].loss, rtol=1e-5, atol=0)


def check_same_loss_in_every_block(r):
    """The thread count and the load change how long a step takes, not what it computes (two
    threads split a matmul's rows, each sum keeps its order: observed equal to the last digit)."""
    assert list(r["runs"]) == [(1, 0), (2, 0), (1, 2), (2, 2)]  # (threads, busy processes)
    losses = [ways["tensor"].loss for ways in r["runs"].values()]
    assert_close(losses, [losses[0]] * 4, rtol=1e-6, atol=0)


EXPERIMENTS = {  # each Try: line's check, looked up by its flags
    "--ways notes tensor": check_same_loss_both_pipelines,
    "--ways tensor --threads 1 2 --load 2": check_same_loss_in_every_block,
}


@pytest.mark.parametrize("flags, said", try_lines("bench_mnist"))
def test_try_experiments(flags, said, mnist_dir):
    """The docstring's experiments on 400 images (2 steps); --load's processes are gone after."""
    threads, before = torch.get_num_threads(), children()
    r, out = quiet_main(flags.split() + ["--limit", "400", "--data-dir", str(mnist_dir)])
    EXPERIMENTS[flags](r)
    assert torch.get_num_threads() == threads  # restored: a notebook's main() leaves it as it was
    assert children() <= before, "a busy process outlived the benchmark"
    assert out.count("-- intra-op threads: ") == len(r["runs"])


class Recorder:
    """What happened, in order: the device waits, the clock reads, the training steps."""

    def __init__(self):
        self.events = []

    def note(self, event, result=None):
        self.events.append(event)
        return result

    def batches(self, data, target, steps):
        for _ in range(steps):
            self.note("step")
            yield data, target


@pytest.mark.parametrize("device, wait", [("cuda", "cuda.synchronize"), ("mps", "mps.synchronize"),
                                          ("cpu", None)])
def test_the_clock_waits_for_the_device(device, wait, monkeypatch):
    """cuda and mps queue the steps and return at once: the clock starts after the device has
    finished what came before and stops after it has run every step. Faked here (a CPU model,
    recording synchronize and the clock), so it runs on every machine; on a GPU
    tests/test_device.py times the real thing."""
    rec = Recorder()
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: rec.note("cuda.synchronize"))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: rec.note("mps.synchronize"))
    monkeypatch.setattr(bench_mnist, "time", types.SimpleNamespace(
        perf_counter=lambda: rec.note("clock", float(len(rec.events)))))
    net = bench_mnist.build_model([784, 10])
    batches = rec.batches(torch.randn(8, 784), torch.randint(0, 10, (8,)), steps=3)
    timing = bench_mnist.time_epoch(net, 0.1, batches, torch.device(device))
    waits = [wait] if wait else []
    assert rec.events == waits + ["clock", "step", "step", "step"] + waits + ["clock"]
    assert timing.seconds == len(waits) + 4  # the clock's two readings (event counts) apart
    assert 0 < timing.loss < 5


def test_busy_processes_are_bounded_and_stopped():
    """--load's processes burn a core each while the block runs and are gone after it; each would
    end by itself after `seconds` if the benchmark died first."""
    before = children()
    with bench_mnist.busy_processes(2, seconds=30) as procs:
        assert [p.poll() for p in procs] == [None, None]  # running
        assert children() - before == {p.pid for p in procs}
    assert all(p.returncode is not None for p in procs)
    assert children() <= before
    with bench_mnist.busy_processes(1, seconds=0.2) as (proc,):
        assert proc.wait(timeout=20) == 0  # its own bound: ends cleanly, nobody stopped it


def test_notes_pipeline_gives_the_same_tensors(mnist_dir):
    """The per-sample ToTensor + Normalize of way (a) equals to_inputs of way (b)."""
    loader = bench_mnist.notes_loader(mnist_dir, 64, torch.Generator(), limit=64)
    images, labels = bench_mnist.load_mnist(mnist_dir, train=True)
    pixels = torch.stack([loader.dataset[i][0] for i in range(64)])
    assert pixels.shape == (64, 1, 28, 28)  # what the notes' data.view(-1, 28*28) flattens
    assert_close(pixels.view(64, 784), bench_mnist.to_inputs(images[:64]))
    assert [loader.dataset[i][1] for i in range(64)] == labels[:64].tolist()
