"""mnist_mlp_gpu.py: what `.to` returns, and the tensor path, the notes' DataLoader and
mnist_mlp.py train alike (same pixels, same order, same result)."""
import contextlib
import io
import re

import pytest
import torch
from torch.testing import assert_close

import mnist_mlp
import mnist_mlp_gpu
from conftest import lesson_namespace, try_lines

# One epoch on the first 2000 training images at lr 0.1 (10 SGD steps, batch 200): the notes'
# loader costs ~1 ms per image, so the budget is small. Observed test accuracy (tensor path; the
# loader path and mnist_mlp.py give the same), seeds 0-4: 0.5644, 0.6926, 0.5788, 0.6255, 0.6277.
SMALL = ["--epochs", "1", "--limit", "2000", "--lr", "0.1", "--log-interval", "5"]
FLOOR, CEILING = 0.40, 0.99
AUTO = ("cuda" if torch.cuda.is_available()  # --device auto: cuda, then mps, then cpu
        else "mps" if torch.backends.mps.is_available() else "cpu")


def quiet_main(main, argv):
    """(main(argv), printed text): tqdm.write prints to sys.stdout too."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        r = main(argv)
    return r, out.getvalue()


@pytest.fixture(scope="module")
def tensor_run(mnist_dir, tmp_path_factory):
    plot = tmp_path_factory.mktemp("mnist_mlp_gpu") / "p.png"
    r, out = quiet_main(mnist_mlp_gpu.main, SMALL + ["--data-dir", str(mnist_dir),
                                                     "--plot", str(plot)])
    return r, out, plot


def test_tensor_path_learns_and_prints(tensor_run):
    r, out, plot = tensor_run
    assert FLOOR <= r["test_acc"] < CEILING
    assert f"device: {AUTO}, loader: tensor\n" in out
    assert "Train Epoch: 0 [1000/2000 (50%)]\tLoss: " in out
    assert "== gpu加速 / what .to returns ==" in out and f"== gpu加速 / training on {AUTO} ==" in out
    assert "epoch 0: train time " in out and "epochs: 1, train time per epoch: " in out
    from matplotlib.image import imread
    image = imread(plot)
    assert image.shape[:2] == (400, 1000) and image[..., :3].std() > 0.05  # real, not blank


def test_what_to_returns_is_printed(tensor_run):
    """The docstring's claims, printed by the run: x (the training images) is on the CPU, so
    x.to(device) is x exactly when the device is the CPU; another dtype is always a copy."""
    _, out, _ = tensor_run
    assert f"x.to({AUTO}) is x: {AUTO == 'cpu'}\n" in out
    assert "x.to(torch.float64) is x: False\n" in out
    assert "the same weight Parameter after it: True\n" in out
    # 004's data.gpu() / model.gpu(): the run prints that they do not exist, and they do not
    assert "x.gpu exists: False\n" in out and "net.gpu exists: False\n" in out
    with pytest.raises(AttributeError):
        torch.zeros(1).gpu()
    with pytest.raises(AttributeError):
        mnist_mlp_gpu.build_model().gpu()


def test_a_module_converts_in_place_a_tensor_copies_only_when_it_must():
    """On any machine: a dtype is a real move. The module's own Parameters become float64 (in
    place: the same objects, so an optimizer built before .to still holds them); the tensor
    stays float32 and the float64 one is new; .to() to where it already is returns it."""
    lesson = lesson_namespace("mnist_mlp_gpu")
    net, x = lesson["build_model"](), torch.randn(3, 784)
    weight = net[0].weight
    with contextlib.redirect_stdout(io.StringIO()):
        facts = lesson["show_to"](net, x, torch.float64)
        stay = lesson["show_to"](net, x, x.device)
    assert weight.dtype == torch.float64 and net[0].weight is weight
    assert facts.same_weight and facts.net_is_net
    assert not facts.x64_is_x and x.dtype == torch.float32
    assert stay.x_is_x


def check_the_notes_loader(r, out, tensor_run):
    """Same pixels (ToTensor + Normalize per sample = to_inputs once), same order (the same
    generator draws the same permutation): the same result, through the notes' DataLoader."""
    assert "device: " in out and ", loader: torchvision" in out
    assert_close(r["test_loss"], tensor_run[0]["test_loss"], rtol=1e-5, atol=0)
    assert abs(r["correct"] - tensor_run[0]["correct"]) <= 2  # float noise can flip a tie
    assert re.search(r"epoch 0: train time \d+\.\d\d s, \d+ samples/s\n", out)
    # (fewer samples/s, as the Try: line says, is a timing: seen, never asserted)


TRY_CHECKS = {"--loader torchvision": check_the_notes_loader}


@pytest.mark.parametrize("flags, said", try_lines("mnist_mlp_gpu"))
def test_try_experiments(flags, said, tensor_run, mnist_dir):
    check = TRY_CHECKS[flags]  # an experiment with no check here fails (KeyError)
    r, out = quiet_main(mnist_mlp_gpu.main, flags.split() + SMALL + ["--data-dir", str(mnist_dir)])
    check(r, out, tensor_run)


def test_same_result_as_mnist_mlp(tensor_run, mnist_dir):
    """The docstring's "mnist_mlp.py's result for the same seed": same net, init, batch order."""
    r, _ = quiet_main(mnist_mlp.main, SMALL + ["--data-dir", str(mnist_dir)])
    assert_close(r["test_loss"], tensor_run[0]["test_loss"], rtol=1e-5, atol=0)


def test_the_copied_lesson_trains_both_ways(mnist_dir):
    """Copy-out: the lesson part alone trains, and step for step the notes' loop on the notes'
    DataLoader gives the losses of train_epoch on index slices of the tensors."""
    from torchvision import datasets
    lesson = lesson_namespace("mnist_mlp_gpu")
    train = datasets.MNIST(mnist_dir, train=True)
    x, y = lesson["to_inputs"](train.data[:1000]), train.targets[:1000]
    losses = {}
    for way in ["tensor", "notes"]:
        torch.manual_seed(0)
        net = lesson["build_model"]()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
        generator = torch.Generator().manual_seed(0)
        with contextlib.redirect_stdout(io.StringIO()):
            if way == "tensor":
                batches = lesson["shuffled_batches"](len(x), 200, generator)
                losses[way] = lesson["train_epoch"](net, optimizer, x, y, batches, 0)
            else:
                loader = lesson["notes_loader"](mnist_dir, 200, generator, limit=1000)
                losses[way] = lesson["train_epoch_notes"](net, optimizer, loader, "cpu", 0)
    assert len(losses["tensor"]) == 5
    assert_close(losses["notes"], losses["tensor"], rtol=1e-5, atol=0)
    assert losses["tensor"][-1] < 0.97 * losses["tensor"][0]  # 5 steps at lr 0.1: 2.30 -> 2.17


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_device_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        mnist_mlp_gpu.main(["--device", "cuda"])
    assert exc.value.code == 2
    assert "cuda is not available here" in capsys.readouterr().err


@pytest.mark.parametrize("loader", ["tensor", "torchvision"])
def test_missing_data_exits_with_one_line(tmp_path, loader):
    with pytest.raises(SystemExit) as exc:
        mnist_mlp_gpu.main(["--loader", loader, "--data-dir", str(tmp_path / "nowhere")])
    message = str(exc.value.code)
    assert message.startswith("error: MNIST is not in") and "\n" not in message
    assert "make data" in message and "python get_mnist.py --data-dir" in message


# The notes' recipe on the tensor path: 10 epochs, batch 200, lr 0.01: mnist_mlp.py's seed-0 run
# (observed there: 0.9341).
@pytest.mark.slow
def test_ten_epochs_reach_93_percent(mnist_dir):
    r, _ = quiet_main(mnist_mlp_gpu.main, ["--data-dir", str(mnist_dir)])
    assert 0.925 <= r["test_acc"] < 0.99
