"""LS22.交叉熵 / Entropy and cross entropy.

Information content I(x) = -log2 p(x) and entropy as its mean, in bits, for the notes' three
distributions and 003's exam; H(p, q) = H(p) + KL(p||q), so P = Q gives KL = 0 and H(p, q) = H(p),
and a one-hot p gives H(p, q) = KL; F.cross_entropy = nll_loss(log(softmax)) = nll_loss(log_softmax)
and why it wants logits; binary cross entropy three ways; why not MSE.

Run:    python scripts/entropy.py   (or: make entropy)
Expect: H = tensor(2.), tensor(1.3568), tensor(0.0342); the exam 0.469 and 1 bit; P = Q: KL = 0;
        cross_entropy of softmax outputs stuck in [1.4612, 2.4612], its gradient shrunk; at
        logit -10 dMSE/dlogit = -9.1e-05 vs dBCE/dlogit = -1.0.
"""
import argparse
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

DISTRIBUTIONS = [[1 / 4.0] * 4, [0.1, 0.1, 0.1, 0.7], [0.001, 0.001, 0.001, 0.997]]  # the notes'
EXAM_PASS = [0.1, 0.5]  # 003's exam: Li Hua passes with p = 0.1, Zhang Hua with p = 0.5
CLASSES, FEATURES = 10, 784  # the notes' w = torch.randn(10, 784): ten digits, 28x28 pixels
WRONG_LOGITS = [-10.0, -6.0, -2.0, 0.0, 2.0]  # target 1: from confidently wrong to right
SEED = 0


def information_bits(p):
    """003 "1.3": the information content of an event of probability p, I = -log2 p bits."""
    return math.log2(1 / p)  # = -log2 p; p = 1: 0 bits (nothing learned); p = 1/8: 3 bits


def entropy_bits(p):
    """The notes' -sum p log2 p, written as they wrote it (so it prints tensor(2.) exactly)."""
    return -(p * torch.log2(p)).sum()


def cross_entropy_and_kl(p, q):
    """H(p, q) = -sum p ln q, H(p) and KL(p||q) in nats; entr takes 0 ln 0 = 0 for one-hot p.
    003 writes -1/m p(x) log q(x): the sum over x is missing, and 1/m belongs to a mean over m
    samples (as in its binary form), not to the cross entropy of two distributions."""
    h_pq = -(p * torch.log(q)).sum()
    h_p = torch.special.entr(p).sum()  # -p ln p elementwise
    kl = F.kl_div(torch.log(q), p, reduction="sum")  # PyTorch's own KL: sum p (ln p - ln q)
    return h_pq, h_p, kl


def softmax_twice(logits, target):
    """000: "使用交叉熵必须使用logits". cross_entropy on logits and on softmax(logits), with the
    gradient norm of each w.r.t. the logits. Fed probabilities in [0, 1], cross_entropy softmaxes
    again: the loss is stuck in [ln(1 + (C-1)/e), ln(e + C - 1)] and its gradient vanishes."""
    z = logits.detach().requires_grad_()
    right, wrong = F.cross_entropy(z, target), F.cross_entropy(F.softmax(z, dim=1), target)
    (g_right,) = torch.autograd.grad(right, [z], retain_graph=True)
    (g_wrong,) = torch.autograd.grad(wrong, [z])
    return right.item(), wrong.item(), g_right.norm().item(), g_wrong.norm().item()


def binary_cross_entropy_three_ways(logits, y):
    """By the formula on sigmoid outputs, F.binary_cross_entropy, and ..._with_logits on logits."""
    o = torch.sigmoid(logits)
    formula = -(y * torch.log(o) + (1 - y) * torch.log(1 - o)).mean()
    return formula, F.binary_cross_entropy(o, y), F.binary_cross_entropy_with_logits(logits, y)


def logit_gradients(logits, target):
    """d loss / d logit for MSE on sigmoid(z) and for binary cross entropy, per logit (autograd)."""
    z = logits.detach().requires_grad_()
    t = torch.full_like(z, target)
    (g_mse,) = torch.autograd.grad(F.mse_loss(torch.sigmoid(z), t, reduction="sum"), [z])
    (g_bce,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(z, t, reduction="sum"), [z])
    return g_mse, g_bce  # 2(s - t)s(1 - s) and s - t: the first carries the vanishing s(1 - s)


def cross_entropy_three_ways(title, logits, target, as_item):
    """F.cross_entropy, nll_loss of log(softmax) and nll_loss of log_softmax: one number, printed
    as the notes print it (a tensor, or 004's .item())."""
    # dim=1, over the classes: F.softmax(logits) without dim is deprecated (it guesses and warns).
    pred_log = torch.log(F.softmax(logits, dim=1))  # (1, 10): underflows to -inf far from the max
    losses = {"F.cross_entropy(logits, y)": F.cross_entropy(logits, target),
              "F.nll_loss(torch.log(F.softmax(logits, dim=1)), y)": F.nll_loss(pred_log, target),
              "F.nll_loss(F.log_softmax(logits, dim=1), y)":
                  F.nll_loss(F.log_softmax(logits, dim=1), target)}
    print(f"\n# {title}, target {target.item()}\nlogits.shape: {logits.shape}")
    for name, loss in losses.items():
        print(f"{name:<51} =", loss.item() if as_item else loss)
    return list(losses.values())


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="LS22: entropy, cross entropy, and why not MSE")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)

    print("# information content I(x) = -log2 p(x): the rarer, the more informative")
    for p in [1.0, 0.5, 0.25, 0.1]:
        print(f"p = {p:<4}  I = {information_bits(p):.3f} bits")
    # Entropy = the average information content. 004 has it backwards ("熵越高…惊喜度越低", higher
    # entropy = less surprise): the higher the entropy, the more surprise on average.
    print("\n# entropy H = -sum p log2 p in bits: the more even, the higher")
    entropies = [entropy_bits(torch.tensor(p)) for p in DISTRIBUTIONS]
    for p, h in zip(DISTRIBUTIONS, entropies):
        print(f"H({p}) = {h!s}")
    for p in EXAM_PASS:  # a yes/no event: H = -[p log2 p + (1 - p) log2(1 - p)]
        h = entropy_bits(torch.tensor([p, 1 - p], dtype=torch.float64))
        print(f"003's exam, pass with p = {p}: H = {h:.3f} bits")

    print("\n# H(p, q) = H(p) + KL(p||q), in nats")
    p = F.softmax(torch.randn(5, dtype=torch.float64), dim=0)  # (5,): two random distributions
    q = F.softmax(torch.randn(5, dtype=torch.float64), dim=0)
    one_hot = F.one_hot(torch.tensor(2), 5).double()
    for name, (a, b) in {"random p, q": (p, q), "P = Q": (p, p), "one-hot p": (one_hot, q)}.items():
        h_pq, h_p, kl = cross_entropy_and_kl(a, b)
        print(f"{name:<12} H(p, q) = {h_pq:.6f}   H(p) = {h_p:.6f}   KL(p||q) = {kl:.6f}")
    print("P = Q: KL = 0 and H(p, q) = H(p); one-hot p: H(p) = 0 and H(p, q) = KL")

    # The notes' x, w (and 004's b) came from an unseeded randn: their 76.0477, 16.3820 and
    # 73.18791198730469 cannot be reproduced; the identity they show can, here with a seed.
    x, w, b = torch.randn(1, FEATURES), torch.randn(CLASSES, FEATURES), torch.randn(1, CLASSES)
    multi = cross_entropy_three_ways("000/001: logits = x @ w.t()", x @ w.t(), torch.tensor([3]), False)
    cross_entropy_three_ways("004: logits = x @ w.t() + b", x @ w.t() + b, torch.tensor([4]), True)
    far = torch.tensor([[0.0, 120.0]])  # a gap of 120: e^-120 is below float32's smallest number
    cross_entropy_three_ways("why log_softmax: logits [[0, 120]]", far, torch.tensor([0]), False)

    print("\n# cross_entropy wants logits: fed softmax outputs it applies softmax twice")
    sure = F.one_hot(torch.tensor([3]), CLASSES) * 20.0  # (1, 10): confidently right, class 3
    for name, logits in {"confidently right": sure, "000's x @ w.t()": x @ w.t()}.items():
        right, wrong, g_right, g_wrong = softmax_twice(logits, torch.tensor([3]))
        print(f"{name:<17}: on logits {right:7.4f} (|grad| {g_right:.4f}), "
              f"on softmax {wrong:.4f} (|grad| {g_wrong:.2e})")
    print(f"on softmax outputs the loss stays in [ln(1 + 9/e), ln(e + 9)] = "
          f"[{math.log(1 + 9 / math.e):.4f}, {math.log(math.e + 9):.4f}]: a right answer still "
          f"costs 1.46 and a wrong one gets a far smaller gradient")

    print("\n# binary cross entropy: formula on sigmoid, F.binary_cross_entropy, ..._with_logits")
    z = torch.randn(6, dtype=torch.float64)
    y = torch.randint(0, 2, (6,)).double()
    print(" = ".join(f"{v.item():.6f}" for v in binary_cross_entropy_three_ways(z, y)))

    # 000 argues that with 3 right and 2 wrong before and after an update "mse并没有改变": that is
    # the accuracy (flat in w, see logistic_regression.py); the MSE does change. What goes wrong
    # with sigmoid + MSE is its gradient:
    print("\n# why not MSE: target 1, sigmoid output; gradient of the loss w.r.t. the logit")
    logits = torch.tensor(WRONG_LOGITS, dtype=torch.float64)
    g_mse, g_bce = logit_gradients(logits, 1.0)
    print(f"{'logit':>6} {'sigmoid':>9} {'dMSE/dlogit':>12} {'dBCE/dlogit':>12}")
    for zi, gm, gb in zip(logits.tolist(), g_mse.tolist(), g_bce.tolist()):
        print(f"{zi:>6.1f} {1 / (1 + math.exp(-zi)):>9.5f} {gm:>12.2e} {gb:>12.2e}")
    print("MSE's gradient carries sigmoid' = s(1-s), ~0 when the output is confidently wrong")
    return {"entropies": [h.item() for h in entropies], "cross_entropy": multi[0].item(),
            "on_softmax": wrong, "dmse_at_-10": g_mse[0].item(), "dbce_at_-10": g_bce[0].item()}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parser.parse_args(argv); main() with no argv in a notebook kernel runs the defaults."""
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name
    return parser.parse_args([] if argv is None and in_kernel else argv)


if __name__ == "__main__":
    main()
