"""bench_mnist.py: the FLOP count against its closed form, and the three ways train the same net
on the same images (no speed is asserted: a test cannot know the machine)."""
import contextlib
import io

import torch
from torch.testing import assert_close

import bench_mnist
from conftest import lesson_namespace

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


def test_small_bench_runs_every_way(mnist_dir):
    """Every way trains the same fresh net on the same 400 images (2 steps) and reports."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        r = bench_mnist.main(["--limit", "400", "--data-dir", str(mnist_dir)])
    out = out.getvalue()
    assert r["n"] == 400 and r["flops_per_epoch"] == 400 * PER_IMAGE
    assert list(r["ways"]) == ["notes", "tensor", "floor"]
    assert "one epoch: 400 images, batch 200, 784-200-200-10 MLP, 0.35 GFLOP of matmuls" in out
    assert "time notes/tensor: " in out and "time tensor/floor: " in out
    ways = r["ways"]
    for way in ways.values():
        assert way["seconds"] > 0 and 0 < way["loss"] < 2.5  # two steps: near ln 10 = 2.30
    # (a) and (b): the same pixels in the same order, so the same steps; (c) takes the images
    # in file order: another loss
    assert_close(ways["notes"]["loss"], ways["tensor"]["loss"], rtol=1e-5, atol=0)
    assert ways["floor"]["loss"] != ways["tensor"]["loss"]


def test_notes_pipeline_gives_the_same_tensors(mnist_dir):
    """The per-sample ToTensor + Normalize of way (a) equals to_inputs of way (b)."""
    loader = bench_mnist.notes_loader(mnist_dir, 64, torch.Generator(), limit=64)
    images, labels = bench_mnist.load_mnist(mnist_dir, train=True)
    pixels = torch.stack([loader.dataset[i][0] for i in range(64)])
    assert pixels.shape == (64, 1, 28, 28)  # what the notes' data.view(-1, 28*28) flattens
    assert_close(pixels.view(64, 784), bench_mnist.to_inputs(images[:64]))
    assert [loader.dataset[i][1] for i in range(64)] == labels[:64].tolist()
