"""mnist_mlp_gpu.py: the tensor path and the notes' DataLoader feed the same data and both learn."""
import pytest
import torch
from torch.testing import assert_close

import mnist_mlp_gpu

# Tensor path: one epoch on the first 10000 training images (50 SGD steps, lr 0.01, batch 200);
# observed test accuracy seed 0: 0.5618, seed 1: 0.5427, seed 2: 0.4747 (the same as mnist_mlp.py:
# same net, init and batch order). The notes' loader costs ~1 ms per image here, so its test trains
# on 4000 images at lr 0.1 (20 steps): seed 0: 0.7368, 1: 0.7129, 2: 0.7778, 3: 0.7456.
FLOOR, CEILING = 0.35, 0.99
LOADER_FLOOR = 0.55


def test_tensor_path_learns(mnist_dir, capsys, tmp_path):
    r = mnist_mlp_gpu.main(["--epochs", "1", "--limit", "10000", "--data-dir", str(mnist_dir),
                            "--plot", str(tmp_path / "p.png")])
    assert FLOOR <= r["test_acc"] < CEILING
    # --device auto: cuda, then mps, then cpu
    expected = ("cuda" if torch.cuda.is_available()
                else "mps" if torch.backends.mps.is_available() else "cpu")
    assert r["device"] == expected
    from matplotlib.image import imread
    image = imread(tmp_path / "p.png")
    assert image.shape[:2] == (400, 1000) and image[..., :3].std() > 0.05  # real, not blank
    out = capsys.readouterr().out
    assert f"Average loss: {r['test_loss'] / 200:.4f}, Accuracy: {r['correct']}/10000" in out
    assert "net.to(device) returns the same module: True" in out
    assert "samples/s" in out


def test_torchvision_loader_learns(mnist_dir):
    r = mnist_mlp_gpu.main(["--loader", "torchvision", "--epochs", "1", "--limit", "4000",
                            "--lr", "0.1", "--data-dir", str(mnist_dir)])
    assert LOADER_FLOOR <= r["test_acc"] < CEILING


def test_both_paths_see_the_same_pixels(mnist_dir):
    """Normalising the whole tensor once equals the notes' per-sample ToTensor + Normalize."""
    gen = torch.Generator().manual_seed(0)
    loader = mnist_mlp_gpu.load_mnist_loader(mnist_dir, False, 100, gen, None)
    data, target = next(iter(loader))  # the test loader keeps the file order
    x, y = mnist_mlp_gpu.load_mnist(mnist_dir, False, "cpu")
    assert data.shape == (100, 1, 28, 28)
    assert_close(data.view(-1, 784), x[:100])
    assert torch.equal(target, y[:100])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_device_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        mnist_mlp_gpu.main(["--device", "cuda"])
    assert exc.value.code == 2
    assert "cuda is not available on this machine" in capsys.readouterr().err


@pytest.mark.parametrize("loader", ["tensor", "torchvision"])
def test_missing_data_exits_with_one_line(tmp_path, loader):
    with pytest.raises(SystemExit) as exc:
        mnist_mlp_gpu.main(["--loader", loader, "--data-dir", str(tmp_path / "nowhere")])
    message = str(exc.value.code)
    assert message.startswith("error: MNIST is not in") and "\n" not in message
