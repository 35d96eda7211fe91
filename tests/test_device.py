"""The device tier (issue 25): the MNIST trainers and the lesson-9 trainers on every device this
machine has. A test taking `device` (tests/conftest.py) runs on the cpu always and on cuda and mps
where torch finds them; elsewhere each GPU case is skipped with its reason, so `make test` on a
GPU machine runs them with no flag. What needs no GPU (pick_device with cuda or mps faked, the
tolerance's grounds, the cuBLAS setting) runs everywhere. Observed values are from this project's
CPU machine; the GPU cases have not met a GPU yet (no test needs editing to run there)."""
import contextlib
import importlib
import io
import os
import subprocess
import sys
from functools import partial
from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close
from torchvision import datasets

from conftest import REPO, SCRIPTS, device_params

pytestmark = pytest.mark.usefixtures("one_thread")  # the CPU's share: small, one thread is enough

# The six MNIST trainers share to_inputs, shuffled_batches and train_epoch (tests/test_contract);
# each builds the notes' 784-200-200-10 net its own way, here on the CPU from the seed and then
# moved, so that every device starts from the same weights. (A model built on the device, as
# mnist_raw_weights' main() does, draws its init from that device's generator instead.)
MODELS = {
    "mnist_raw_weights": None,  # raw tensors: init_weights(), forward(params, x)
    "mnist_mlp": lambda m: m.MLP(),
    "mnist_mlp_gpu": lambda m: m.build_model(),
    "overfitting": lambda m: m.build_model(),
    "tb_demo": lambda m: m.build_model(),
    "visdom_demo": lambda m: m.build_model(),  # its main() needs a visdom server: the lesson here
}
TRAINERS = list(MODELS)
N, BATCH, LR = 2000, 200, 0.1  # 10 SGD steps on the first 2000 training images
# Test accuracy after those 10 steps, observed on the CPU, seeds 0/1/2: mnist_raw_weights (ReLU,
# kaiming) 0.7997/0.7003/0.7673; the LeakyReLU nets (all the others, the same init) 0.5644/0.6926/0.5788.
FLOORS = {"mnist_raw_weights": 0.65} | {name: 0.40 for name in TRAINERS[1:]}
CEILING = 0.99

# cuda against the CPU, a few steps from the same weights on the same batches, TF32 off. Both
# are float32 roundings of the same exact computation, summed in other orders: each sits about
# as far from the exact (float64) run as the other. Observed on the CPU, float32 against float64
# after 10 steps: losses <= 1.7e-7 apart (relative), weights <= 2.4e-8 (absolute), every trainer;
# test_float32_rounding_is_far_inside_the_tolerance checks that here. The tolerance is 50-100x
# that, and 10-100x under what TF32 would give (its 10-bit mantissa rounds each matmul input
# by up to 2^-11 ~ 5e-4: losses ~1e-4-1e-3 apart), so a kernel or a dtype gone wrong shows.
LOSS_RTOL, WEIGHT_ATOL = 1e-5, 1e-6

CUDA_CASE = device_params()[1]  # cuda only: skipped here with the conftest's reason
PICKERS = sorted(p.stem for p in SCRIPTS.glob("*.py")
                 if '"--device"' in p.read_text(encoding="utf-8"))  # every script's --device


def module_of(name):
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    """The first N training images and the test set as mnist_mlp's to_inputs makes them (the
    six copies are identical), on the CPU: (x, y, x_test, y_test)."""
    to_inputs = module_of("mnist_mlp").to_inputs
    train = datasets.MNIST(mnist_dir, train=True)
    test = datasets.MNIST(mnist_dir, train=False)
    return to_inputs(train.data[:N]), train.targets[:N], to_inputs(test.data), test.targets


def graph_leaves(tensor):
    """The leaf tensors (the parameters) that `tensor` was computed from, through autograd."""
    leaves, seen, todo = [], set(), [tensor.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if hasattr(fn, "variable"):  # AccumulateGrad: a leaf that gets a .grad
            leaves.append(fn.variable)
        todo += [next_fn for next_fn, _ in fn.next_functions]
    return leaves


class LossCall(NamedTuple):
    """One F.cross_entropy call: where its logits, targets and loss were, where the parameters
    behind the logits were (none under no_grad), and the targets themselves (on the CPU)."""
    logits: str
    targets: str
    loss: str
    params: list
    target_values: torch.Tensor


@pytest.fixture
def loss_calls(monkeypatch):
    """Every F.cross_entropy call the scripts make (they call it as F.cross_entropy, looked up at
    each call), recorded: the trainers' losses, whatever their loops look like."""
    calls, real = [], F.cross_entropy

    def recording(logits, targets, *args, **kwargs):
        loss = real(logits, targets, *args, **kwargs)
        calls.append(LossCall(logits.device.type, targets.device.type, loss.device.type,
                              [p.device.type for p in graph_leaves(logits)], targets.cpu()))
        return loss

    monkeypatch.setattr(F, "cross_entropy", recording)
    return calls


def build(name, device, dtype=torch.float32):
    """The trainer's own model, built on the CPU from the current seed, then moved: (model to
    call, its parameters)."""
    module = module_of(name)
    if MODELS[name] is None:
        params = [p.detach().to(device, dtype).requires_grad_() for p in module.init_weights()]
        return partial(module.forward, params), params
    net = MODELS[name](module).to(device, dtype)
    return net, list(net.parameters())


class Run(NamedTuple):
    model: object
    params: list
    losses: list


def train_on(name, device, x, y, dtype=torch.float32, seed=0):
    """One epoch of the script's train_epoch over x, y on `device` from the seed's weights."""
    module = module_of(name)
    torch.manual_seed(seed)
    model, params = build(name, device, dtype)
    batches = module.shuffled_batches(len(x), BATCH, torch.Generator().manual_seed(seed))
    optimizer = torch.optim.SGD(params, lr=LR)
    with contextlib.redirect_stdout(io.StringIO()):  # its Train Epoch lines
        losses = module.train_epoch(model, optimizer, x.to(device, dtype), y.to(device), batches, 0)
    return Run(model, params, losses)


# ---- On every device present (here: the cpu; cuda and mps skipped with their reason) ----

@pytest.mark.parametrize("name", TRAINERS)
def test_train_epoch_runs_on_the_device(name, device, mnist, loss_calls):
    """The script's train_epoch on `device`: the logits, targets, loss and every parameter are
    there, the batches come in the CPU generator's order, and the test floor is the CPU's."""
    x, y, x_test, y_test = mnist
    run = train_on(name, device, x, y)
    assert len(loss_calls) == len(run.losses) == N // BATCH
    for call in loss_calls:
        assert (call.logits, call.targets, call.loss) == (device.type,) * 3
        assert call.params and set(call.params) == {device.type}  # the model's, all on the device
    assert {p.device.type for p in run.params} == {device.type}
    # the order a CPU generator gives, computed here without the script: the same on any device
    order = torch.randperm(N, generator=torch.Generator().manual_seed(0)).split(BATCH)
    for call, idx in zip(loss_calls, order):
        assert torch.equal(call.target_values, y[idx])
    if hasattr(run.model, "eval"):
        run.model.eval()
    with torch.no_grad():
        logits = run.model(x_test.to(device))  # (10000, 10), on the device
    assert logits.device.type == device.type
    accuracy = (logits.argmax(dim=1).cpu() == y_test).float().mean().item()
    assert FLOORS[name] <= accuracy < CEILING


# main(argv) -> its headline: test accuracy, or the lesson's validation accuracy (lesson 9). Each
# run takes the first N images for one epoch, seed 0; on a GPU a model built there (raw weights,
# lesson 9's `with device:`) starts from other weights, so each floor sits under several seeds.
LR_FLAG, LOGDIR = ["--lr", str(LR)], "LOGDIR"  # LOGDIR: a temporary folder
MAINS = {  # name: (its flags beyond the common ones, its accuracy in main's result, floor)
    "mnist_raw_weights": (LR_FLAG, lambda r: r["test_acc"], 0.65),  # seeds 0-2: FLOORS' values
    "mnist_mlp": (LR_FLAG, lambda r: r["test_acc"], 0.40),
    "mnist_mlp_gpu": (LR_FLAG, lambda r: r["test_acc"], 0.40),
    "tb_demo": (LR_FLAG + ["--logdir", LOGDIR], lambda r: r["test_acc"], 0.40),
    # the lesson's bs 64 and lr 0.5: 32 steps per refactoring; the last one's (optim.SGD) valid
    # accuracy, seeds 0-4: 0.7045, 0.784, 0.6221, 0.7798, 0.7865
    "training_loop": ([], lambda r: r["valid_acc"], 0.50),
    # one epoch of fit; seeds 0-4: 0.7749, 0.4527, 0.7765, 0.7468, 0.7053 (lr 0.5 on 32 steps)
    "dataloader_scratch": ([], lambda r: r["valid"]["acc"], 0.35),
}


def run_main(name, device, mnist_dir, tmp_path):
    """main(argv) of the script on `device`, quietly: (its result, what it printed)."""
    flags = [str(tmp_path) if flag == LOGDIR else flag for flag in MAINS[name][0]]
    argv = ["--limit", str(N), "--epochs", "1", "--seed", "0", "--device", device.type,
            "--data-dir", str(mnist_dir), *flags]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        return module_of(name).main(argv), out.getvalue()


@pytest.mark.parametrize("name", list(MAINS))
def test_main_runs_on_the_device(name, device, mnist_dir, tmp_path, loss_calls):
    """The script as a learner runs it with --device: every loss it computes, training and
    testing, is on the device with its logits and targets; every trained parameter too; it
    says which device; and it reaches the floor it reaches on the CPU."""
    result, out = run_main(name, device, mnist_dir, tmp_path)
    assert f"device: {device.type}" in out
    assert any(call.params for call in loss_calls), "no training step went through cross_entropy"
    for call in loss_calls:
        assert (call.logits, call.targets, call.loss) == (device.type,) * 3
        assert set(call.params) <= {device.type}
    _, accuracy, floor = MAINS[name]
    assert floor <= accuracy(result) < CEILING


# ---- cuda (and mps) against the CPU, and cuda against itself ----

@contextlib.contextmanager
def tf32_off():
    """float32 matmuls in full float32. TF32 is off by default for matmuls (PyTorch >= 1.12) but
    one line of a learner's or a library's code turns it on for the whole process; pinned here
    so that the comparison's tolerance (LOSS_RTOL, WEIGHT_ATOL) means what it says."""
    old = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(old)


@pytest.mark.parametrize("name", TRAINERS)
def test_float32_rounding_is_far_inside_the_tolerance(name, mnist):
    """The tolerance's ground, on any machine: 10 float32 steps on the CPU against the same steps
    in float64 stay 10x inside it (observed ~1e-7 and ~2e-8). A cuda run is another float32
    rounding of the same steps, so it stays about as close to float64, and to the CPU run."""
    x, y, _, _ = mnist
    run32 = train_on(name, torch.device("cpu"), x, y)
    run64 = train_on(name, torch.device("cpu"), x, y, dtype=torch.float64)
    assert_close(run32.losses, run64.losses, rtol=LOSS_RTOL / 10, atol=0)  # Python floats
    for p32, p64 in zip(run32.params, run64.params):
        assert_close(p32.detach().double(), p64.detach(), rtol=0, atol=WEIGHT_ATOL / 10)


@pytest.mark.parametrize("name", TRAINERS)
def test_a_few_steps_agree_with_the_cpu(name, gpu, mnist):
    """10 steps on the GPU and on the CPU from the same weights and batches: the same losses and
    weights within the float32 tolerance reasoned out above (TF32 off)."""
    x, y, _, _ = mnist
    with tf32_off():
        on_gpu = train_on(name, gpu, x, y)
        on_cpu = train_on(name, torch.device("cpu"), x, y)
    assert_close(on_gpu.losses, on_cpu.losses, rtol=LOSS_RTOL, atol=0)
    for p_gpu, p_cpu in zip(on_gpu.params, on_cpu.params):
        assert p_gpu.device.type == gpu.type
        assert_close(p_gpu.detach().cpu(), p_cpu.detach(), rtol=0, atol=WEIGHT_ATOL)


def test_cublas_config_is_set_before_cuda_starts(cublas_workspace):
    """tests/conftest.py sets CUBLAS_WORKSPACE_CONFIG in this process before any test runs: cuBLAS
    reads it when it starts, at the first cuda matmul, so it must come before (set later, the
    deterministic check would pass while the workspace already chosen stays). In-process, not
    a flag in every script: a learner who wants repeatable cuda runs sets the same two things."""
    value, cuda_started = cublas_workspace
    assert value in (":4096:8", ":16:8")  # the two settings cuBLAS documents as reproducible
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == value
    assert not cuda_started, "cuda was started before the setting: set it earlier (conftest)"


@pytest.mark.parametrize("cuda", [CUDA_CASE])
@pytest.mark.parametrize("name", TRAINERS)
def test_two_cuda_runs_are_equal_bit_for_bit(name, cuda, mnist, cublas_workspace):
    """Under torch.use_deterministic_algorithms(True), with CUBLAS_WORKSPACE_CONFIG set before
    cuBLAS started (conftest), the same seed gives the same bits: every loss, every weight.
    (Without it, cuBLAS may pick a split-k matmul whose sums land in another order.)"""
    x, y, _, _ = mnist
    assert cublas_workspace[0] and not cublas_workspace[1]
    old = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        runs = [train_on(name, torch.device(cuda), x, y) for _ in range(2)]
    finally:
        torch.use_deterministic_algorithms(old)
    assert runs[0].losses == runs[1].losses
    for p, q in zip(runs[0].params, runs[1].params):
        assert p.device.type == "cuda" and torch.equal(p, q)


def test_auto_picks_this_gpu(gpu, mnist_dir, tmp_path, loss_calls):
    """--device auto on a GPU machine picks the GPU (cuda before mps) and trains there."""
    assert module_of("mnist_mlp_gpu").pick_device("auto") == torch.device(gpu.type)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        module_of("mnist_mlp_gpu").main(["--device", "auto", "--epochs", "1", "--limit", "400",
                                         "--data-dir", str(mnist_dir)])
    assert f"device: {gpu.type}, loader: tensor" in out.getvalue()
    assert loss_calls and {call.loss for call in loss_calls} == {gpu.type}


def test_bench_times_the_gpu_after_synchronize(gpu, mnist_dir, monkeypatch):
    """bench_mnist on the GPU: the clock waits for the device twice around every way and the
    warm-up (the real synchronize, counted), and the ways' losses are the CPU's (TF32 off)."""
    bench, waits = module_of("bench_mnist"), []
    queue = torch.cuda if gpu.type == "cuda" else torch.mps
    real = queue.synchronize
    monkeypatch.setattr(queue, "synchronize", lambda *a: (waits.append(a), real(*a))[1])
    results = {}
    with tf32_off(), contextlib.redirect_stdout(io.StringIO()):
        for dev in (gpu.type, "cpu"):
            (results[dev],) = bench.main(["--limit", "400", "--device", dev,
                                          "--data-dir", str(mnist_dir)])["runs"].values()
    assert len(waits) == 2 * (1 + len(results[gpu.type]))  # the warm-up and each way
    for way, timing in results[gpu.type].items():
        assert timing.seconds > 0
        assert_close(timing.loss, results["cpu"][way].loss, rtol=LOSS_RTOL, atol=0)


@pytest.mark.parametrize("cuda", [CUDA_CASE])
def test_torchrun_nccl_matches_one_process(cuda, mnist, mnist_dir, tmp_path):
    """mnist_ddp.py under torchrun with nccl, one process per GPU present (one is enough): after
    2 epochs of 10 steps its checkpoint equals one process's plain loop on this GPU (TF32 off
    in both: torchrun's processes keep the default) as in tests/test_mnist_ddp.py on the CPU."""
    if not torch.distributed.is_nccl_available():
        pytest.skip("this torch build has no nccl")
    ranks, path = torch.cuda.device_count(), tmp_path / "ranks.pt"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
         str(ranks), str(SCRIPTS / "mnist_ddp.py"), "--epochs", "2", "--limit", str(N), "--lr",
         str(LR), "--seed", "0", "--device", "cuda", "--data-dir", str(mnist_dir),
         "--save", str(path)],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"backend: nccl, world size: {ranks}" in proc.stdout
    x, y, _, _ = mnist
    with tf32_off():
        torch.manual_seed(0)
        net = module_of("mnist_ddp").MLP().to(cuda)  # built on the CPU and moved, as the script
        generator, optimizer = torch.Generator().manual_seed(0), torch.optim.SGD(net.parameters(),
                                                                               lr=LR)
        x, y = x.to(cuda), y.to(cuda)
        for _ in range(2):
            for idx in torch.randperm(N, generator=generator).split(BATCH):
                loss = F.cross_entropy(net(x[idx.to(cuda)]), y[idx.to(cuda)])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    one_process = {k: v.cpu() for k, v in net.state_dict().items()}
    assert_close(torch.load(path, map_location="cpu"), one_process, rtol=1e-5, atol=1e-6)


# ---- What needs no GPU: the device choice with cuda and mps faked, the skip reasons ----

@pytest.mark.parametrize("cuda, mps, picked", [(True, True, "cuda"), (True, False, "cuda"),
                                               (False, True, "mps"), (False, False, "cpu")])
def test_auto_picks_cuda_then_mps_then_cpu(cuda, mps, picked, monkeypatch):
    """Every script's pick_device (and so its --device flag) with availability faked: auto takes
    cuda, then mps, then the cpu; a device asked for by name is given when it is there and
    refused with argparse's error (exit 2 from main) when it is not."""
    import argparse
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    for name in PICKERS:
        pick_device = module_of(name).pick_device
        assert pick_device("auto") == torch.device(picked), name
        assert pick_device("cpu") == torch.device("cpu")
        for gpu, there in [("cuda", cuda), ("mps", mps)]:
            if there:
                assert pick_device(gpu) == torch.device(gpu), name
            else:
                with pytest.raises(argparse.ArgumentTypeError):
                    pick_device(gpu)


class Parsed(Exception):
    """Raised with main()'s parsed flags, before it loads or trains anything."""


@pytest.mark.parametrize("name", PICKERS)
def test_device_auto_reaches_main_as_cuda(name, monkeypatch, capsys):
    """`--device auto` parsed by main() itself, cuda faked present: main gets torch.device("cuda");
    faked absent, `--device cuda` ends main with argparse's exit 2 naming cuda."""
    module = module_of(name)
    real_parse = module.parse_flags

    def stop_after_parsing(parser, argv):
        raise Parsed(real_parse(parser, argv))

    monkeypatch.setattr(module, "parse_flags", stop_after_parsing)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(Parsed) as parsed:
        module.main(["--device", "auto"])
    assert parsed.value.args[0].device == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exc:
        module.main(["--device", "cuda"])
    assert exc.value.code == 2 and "cuda" in capsys.readouterr().err


def test_skip_reasons(monkeypatch):
    """The tier's cases: cpu never skipped; cuda and mps skipped exactly when torch finds no
    such device, with a reason naming the call that said so."""
    for cuda, mps in [(False, False), (True, False), (False, True)]:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        cpu, cuda_case, mps_case = device_params()
        assert [cpu.values, cuda_case.values, mps_case.values] == [("cpu",), ("cuda",), ("mps",)]
        assert not cpu.marks
        for case, there, call in [(cuda_case, cuda, "torch.cuda.is_available()"),
                                  (mps_case, mps, "torch.backends.mps.is_available()")]:
            (mark,) = case.marks
            assert mark.name == "skipif" and mark.args == (not there,)
            assert f"({call} is False)" in mark.kwargs["reason"]
