"""1.2 MLP, Sequential, Module / MLP, Sequential and Module.

Why an MLP needs activations (two linear layers without one are one linear layer, checked
numerically), nn.Sequential with indexing and .parameters(), an nn.Module subclass like the
self-notes' template, and saving a model both ways (the pickled model, its state_dict), loaded
back identical.

Run:    python scripts/sequential_module.py [--out DIR]        (or: make sequential_module)
Expect: two stacked Linear layers vs the merged one differ by ~1e-16 (float64); seq_net[0] is
        Linear(in_features=2, out_features=4, bias=True) with a (4, 2) weight; 4 parameter tensors;
        torch.load(..., weights_only=True) (the default since 2.6) refuses the whole model; both
        reloads give identical outputs (0.0). Files go to DIR, or a temporary folder removed after.
Try:    --tanh-between   a Tanh between the two layers: the merged Linear misses by ~0.1, the
                         layers no longer collapse into one
"""
import argparse
import pickle
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

MERGE_SIZES, N_SAMPLES = (3, 5, 2), 8  # in -> hidden -> out of the layers to merge; test inputs


def merge_linears(l1, l2):
    """l2(l1(x)) = W2(W1x + b1) + b2 = (W2W1)x + (W2b1 + b2): one Linear layer does the same.
    The notes write y = w2(w1x) = (w2w1)x, without biases; with them the bias is W2b1 + b2."""
    merged = nn.Linear(l1.in_features, l2.out_features, dtype=l1.weight.dtype)
    with torch.no_grad():
        merged.weight.copy_(l2.weight @ l1.weight)  # (out, hidden) @ (hidden, in) -> (out, in)
        merged.bias.copy_(l2.weight @ l1.bias + l2.bias)  # (out,)
    return merged


@torch.no_grad()
def compare_two_vs_one(sizes, n, between=None):
    """Largest |l2(between(l1(x))) − merged(x)| over n random inputs, in float64: rounding with
    nothing between the layers, a real miss with an activation there."""
    l1, l2 = (nn.Linear(a, b, dtype=torch.float64) for a, b in zip(sizes, sizes[1:]))
    x = torch.randn(n, sizes[0], dtype=torch.float64)  # (n, in)
    hidden = l1(x) if between is None else between(l1(x))
    diff = (l2(hidden) - merge_linears(l1, l2)(x)).abs().max().item()
    layers = "no activation" if between is None else f"a {between} between"
    print(f"== 为什么要使用激活函数 / why an MLP needs activations ==\n"
          f"two Linear layers, {layers}, vs one merged Linear: max |difference| {diff:.1e}")
    return diff


class Net(nn.Module):
    """The notes' module template: layers defined in __init__, wired together in forward."""

    def __init__(self, num_input, num_hidden, num_output):
        super().__init__()  # the notes: super(网络名字, self).__init__(), the same in Python 3
        self.layer1 = nn.Linear(num_input, num_hidden)
        self.layer2 = nn.Sequential(nn.Linear(num_input, num_hidden), nn.Tanh())
        self.layer3 = nn.Linear(num_hidden, num_output)

    def forward(self, x):  # (B, num_input) -> (B, num_output)
        x1, x2 = self.layer1(x), self.layer2(x)
        return self.layer3(x1 + x2)  # two branches added: something Sequential alone cannot do


def show_module(net):
    """A Module prints its layers by name, and a layer is reached by its name."""
    print(f"\n== Module / module模板: a layer by its name ==\nnet = Net(2, 4, 1):\n{net}\n"
          f"net.layer1: {net.layer1}")


def build_seq_net():
    """The notes' Sequential: 2 inputs, 4 tanh hidden units, 1 output."""
    return nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))


def show_sequential(seq_net):
    """Indexing like a list, the first layer's weight (a Parameter), the parameters' shapes."""
    shapes = [tuple(p.shape) for p in seq_net.parameters()]  # a generator: list it to look twice
    print(f"\n== Sequential / 序列化模型可以通过索引访问每一层 ==\nseq_net[0]: {seq_net[0]}\n"
          f"seq_net[0].weight: {seq_net[0].weight}\n"  # a Parameter: requires_grad=True
          f"seq_net.parameters() shapes: {shapes}")
    return shapes


def take_a_step(seq_net, x):
    """One SGD step on mean(seq_net(x)²), so the saved weights are not just the init."""
    optimizer = torch.optim.SGD(seq_net.parameters(), 1.)  # the notes named it optim
    seq_net(x).pow(2).mean().backward()
    optimizer.step()


def save_and_load(seq_net, out):
    """Save the whole model and the state_dict in `out`; load both back. Returns the two models
    and whether torch.load(..., weights_only=True) refused the whole model."""
    model_path, params_path = out / "save_seq_net.pth", out / "save_seq_net_params.pth"
    torch.save(seq_net, model_path)  # pickles the module object itself, class by import path
    torch.save(seq_net.state_dict(), params_path)  # only a dict of names -> tensors
    refused = False
    try:  # weights_only=True (the default since torch 2.6, said here for older ones) loads
        torch.load(model_path, weights_only=True)  # tensors only: a pickled module is refused
    except pickle.UnpicklingError:
        refused = True
    # The notes' torch.load('save_seq_net.pth') needs weights_only=False now: it unpickles objects
    # (someone's file could run code). A state_dict needs no such trust, survives moving the class.
    seq_net1 = torch.load(model_path, weights_only=False)
    seq_net2 = build_seq_net()  # the state_dict way: rebuild the model, then load the tensors
    seq_net2.load_state_dict(torch.load(params_path, weights_only=True))
    return seq_net1, seq_net2, refused


def save_and_compare(seq_net, x, out=None):
    """save_and_load in `out` (made if missing; None: a temporary folder, removed after), then
    the largest output difference of each reloaded model. Returns (refused, (whole, state))."""
    with tempfile.TemporaryDirectory() as tmp:
        out = out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        seq_net1, seq_net2, refused = save_and_load(seq_net, out)
        print(f"\n== 保存模型 / the whole model, or only its state_dict ==\n"
              f"saved save_seq_net.pth and save_seq_net_params.pth in {out}\n"
              f"torch.load(whole model, weights_only=True) refused it: {refused}")
    with torch.no_grad():
        whole, state = [(seq_net(x) - m(x)).abs().max().item() for m in (seq_net1, seq_net2)]
    print(f"max |difference| after reload: whole model {whole}, state_dict {state}")
    return refused, (whole, state)


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="1.2 MLP, Sequential, Module, saving and loading")
    parser.add_argument("--out", type=Path, help="folder for the saved .pth files; none: a "
                                                 "temporary folder, removed at exit")
    parser.add_argument("--tanh-between", action="store_true",
                        help="put a Tanh between the two layers merged into one")
    parser.add_argument("--seed", type=int, default=0)
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)
    diff = compare_two_vs_one(MERGE_SIZES, N_SAMPLES, nn.Tanh() if args.tanh_between else None)
    show_module(Net(2, 4, 1))
    seq_net = build_seq_net()
    shapes = show_sequential(seq_net)
    x = torch.randn(N_SAMPLES, 2)  # (8, 2)
    take_a_step(seq_net, x)
    refused, reload_diffs = save_and_compare(seq_net, x, args.out)
    return {"merge_diff": diff, "param_shapes": shapes, "refused": refused,
            "reload_diffs": reload_diffs}


# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults


if __name__ == "__main__":
    main()
