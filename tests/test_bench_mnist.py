"""bench_mnist.py: the FLOP count against its closed form and the report's arithmetic (no speed)."""
import torch
from torch.testing import assert_close

import bench_mnist

# Matmul FLOPs per image of 784-200-200-10, written out: forward 2*(784*200 + 200*200 + 200*10),
# the weight gradients as much again, the input gradients of layers 2 and 3 (not into the images).
PER_IMAGE = 2 * (784 * 200 + 200 * 200 + 200 * 10) * 2 + 2 * (200 * 200 + 200 * 10)


def test_flops_closed_form():
    assert PER_IMAGE == 879_200
    assert bench_mnist.flops_per_epoch([784, 200, 200, 10], 60000) == 60000 * PER_IMAGE
    # a second shape, by hand: forward 2*(3*4 + 4*5) = 64, weight grads 64, input grads 2*20 = 40
    assert bench_mnist.flops_per_epoch([3, 4, 5], 7) == 7 * 168


def test_flops_match_the_matmuls_autograd_runs():
    """Count the FLOPs of the actual forward and backward with torch's FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode
    net = bench_mnist.build_model(bench_mnist.SIZES)
    x, y = torch.randn(50, 784), torch.randint(0, 10, (50,))
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(net(x), y).backward()
    assert counter.get_total_flops() == bench_mnist.flops_per_epoch(bench_mnist.SIZES, 50)


def test_small_bench_runs_every_way(mnist_dir, capsys):
    """Behaviour only (no speed is ever asserted): every way trains the same net on the same
    400 images and reports; the FLOP count is the closed form above."""
    r = bench_mnist.main(["--limit", "400", "--data-dir", str(mnist_dir)])
    assert r["n"] == 400 and r["flops_per_epoch"] == 400 * PER_IMAGE
    assert list(r["ways"]) == ["notes", "tensor", "floor"]
    for way in r["ways"].values():
        assert way["seconds"] > 0
        assert 0 < way["loss"] < 2.5  # two steps of a fresh net: near ln 10 = 2.30, finite
    out = capsys.readouterr().out
    assert "notes/tensor:" in out and "FLOPs per epoch (matmuls): 0.35 GFLOP" in out


def test_notes_pipeline_gives_the_same_tensors(mnist_dir):
    """The per-sample ToTensor + Normalize of way (a) equals the normalise-once tensor of (b)."""
    ds = bench_mnist.notes_dataset(mnist_dir, 64)
    x, y = bench_mnist.load_mnist(mnist_dir, True, "cpu")
    images = torch.stack([ds[i][0] for i in range(64)]).view(64, 784)
    assert_close(images, x[:64])
    assert [ds[i][1] for i in range(64)] == y[:64].tolist()
