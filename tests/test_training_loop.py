"""training_loop: every refactoring step trains (on a 10000-image subset to stay fast), the
refactored pieces do what the lesson says, and the own Optimizer equals optim.SGD."""
import contextlib
import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.testing import assert_close

import training_loop as tl

LIMIT = 10000  # = 156*64 + 16: the last minibatch has 16 images, as in the full 50000


PLOT = {}  # the --plot file of the module's run


@pytest.fixture(scope="module")
def run(mnist_dir, tmp_path_factory):
    text = io.StringIO()
    PLOT["path"] = tmp_path_factory.mktemp("plot") / "steps.png"
    with contextlib.redirect_stdout(text):
        res = tl.main(["--limit", str(LIMIT), "--seed", "0", "--device", "cpu",
                       "--data-dir", str(mnist_dir), "--plot", str(PLOT["path"])])
    return res, text.getvalue()


def test_every_step_trains(run):
    """One epoch on 10000 images at lr 0.5: 6 seeds x 8 steps gave valid acc 0.83-0.91 and
    last-minibatch acc >= 15/16 (full 50000: 0.906-0.954, >= 14/16; the lesson: > 0.7)."""
    res, text = run
    assert list(res["steps"]) == ["step1_by_hand", "step2_parameters", "step3_dummy_module",
                                  "step4_add_module", "step5_module_list", "step6_sequential",
                                  "step7_optimizer", "step8_optim_sgd"]  # the lesson's order
    for key, step in res["steps"].items():
        assert 0.75 < step["valid_acc"] < 0.99, key
        assert step["batch_acc"] > 0.7, key
        assert step["batch_size"] == LIMIT % 64 == 16
        assert (step["batch_acc"] * 16).is_integer()  # k/16, like the notes' 0.9375 = 15/16
    assert res["valid_acc"] == res["steps"]["step8_optim_sgd"]["valid_acc"]
    assert "\n5. nn.ModuleList\n" in text and "\n8. optim.SGD\n" in text


def test_plot_is_a_real_picture(run):
    from matplotlib.image import imread
    image = imread(PLOT["path"])  # (H, W, 4) floats in [0, 1]
    assert image.shape[:2] == (400, 1000)  # figsize (10, 4) at 100 dpi
    assert image[..., :3].std() > 0.05  # not blank
    assert len({tuple(p) for p in image[::7, ::7, :3].reshape(-1, 3).round(2).tolist()}) > 20


@pytest.mark.slow
def test_full_run_meets_the_lessons_asserts(mnist_dir):
    """The default run (50000 images, one epoch per step): the lesson asserts acc > 0.7 per step
    and > 0.9 after fit; observed seeds 0-5: 0.906-0.954 for every step."""
    res = tl.main(["--data-dir", str(mnist_dir), "--device", "cpu"])
    for key, step in res["steps"].items():
        assert step["valid_acc"] > 0.9, key
        assert step["batch_size"] == 50000 % 64 == 16


def test_untrained_model_is_at_chance(run):
    """ln 10 = 2.3026 for a uniform guess (notes: 2.3076, 0.1719; 6 seeds: 2.29-2.33, <= 0.16)."""
    res, text = run
    assert 2.2 < res["untrained_loss"] < 2.45
    assert f"{LIMIT} = 156*64 + 16" in text


def test_dummy_module_registers_like_nn_module():
    """The notes' printed repr and parameter shapes, and the same parameters nn.Module finds."""
    mdl = tl.DummyModule(784, 50, 10)
    assert repr(mdl) == ("{'l1': Linear(in_features=784, out_features=50, bias=True), "
                         "'l2': Linear(in_features=50, out_features=10, bias=True)}")
    assert [list(p.shape) for p in mdl.parameters()] == [[50, 784], [50], [10, 50], [10]]
    ref = tl.AttributeModel(784, 50, 10)
    assert [p.shape for p in ref.parameters()] == [p.shape for p in mdl.parameters()]


def test_registration_by_add_module_and_module_list():
    """A plain list hides its layers from nn.Module; add_module and ModuleList register them."""
    assert list(tl.LayerListModel(784, 50, 10).parameters()) == []
    added = tl.AddModuleModel(tl.layer_list(784, 50, 10))
    assert "(layer_0): Linear(in_features=784, out_features=50, bias=True)" in repr(added)
    for model in (added, tl.ModuleListModel(tl.layer_list(784, 50, 10))):
        assert [list(p.shape) for p in model.parameters()] == [[50, 784], [50], [10, 50], [10]]


def train_copies(make_update, steps=5):
    """Train the same initial net with two different updates on the same random batches."""
    torch.manual_seed(0)
    base = nn.Sequential(*tl.layer_list(20, 8, 3))  # small: the update rule is what is tested
    data = [(torch.rand(16, 20), torch.randint(0, 3, (16,))) for _ in range(steps)]
    nets = []
    for which in (0, 1):
        net = nn.Sequential(*tl.layer_list(20, 8, 3))
        net.load_state_dict(base.state_dict())
        update = make_update(which, net)
        for xb, yb in data:
            F.cross_entropy(net(xb), yb).backward()
            update()
        nets.append(net)
    return nets


def test_own_optimizer_equals_optim_sgd():
    def make_update(which, net):
        params = net.parameters()
        opt = tl.Optimizer(params, 0.5) if which == 0 else optim.SGD(params, 0.5)
        return lambda: (opt.step(), opt.zero_grad())
    a, b = train_copies(make_update)
    for p, q in zip(a.parameters(), b.parameters()):
        assert_close(p, q)
    assert not torch.equal(a[0].weight, base_weight(0))  # they did train


def base_weight(seed):
    torch.manual_seed(seed)
    return nn.Sequential(*tl.layer_list(20, 8, 3))[0].weight


def test_update_by_layers_equals_update_by_parameters():
    def make_update(which, net):
        net.layers = list(net)  # what update_layers walks
        if which == 0:
            return lambda: tl.update_layers(net, 0.5)
        return lambda: tl.update_parameters(net, 0.5)
    a, b = train_copies(make_update)
    for p, q in zip(a.parameters(), b.parameters()):
        assert_close(p, q)


@pytest.mark.parametrize("argv", [["--batch-size", "0"], ["--epochs", "-1"], ["--lr", "0"],
                                  ["--device", "cuda"] if not torch.cuda.is_available() else
                                  ["--device", "nope"]])
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        tl.main(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err
