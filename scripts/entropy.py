"""LS22.交叉熵 / Entropy and cross entropy.

I(x) = -log2 p(x) and entropy, its mean; H(p, q) = H(p) + KL(p||q) (P = Q: KL = 0; one-hot p:
H(p, q) = KL); F.cross_entropy = nll_loss(log(softmax)) = nll_loss(log_softmax), and why it wants
logits; binary cross entropy three ways; why not MSE.

Run:    python scripts/entropy.py   (or: make entropy)
Expect: H = tensor(2.), tensor(1.3568), tensor(0.0342), the exam's 0.4690 and 1; P = Q: KL = 0; fed
        softmax outputs, loss in [1.4612, 2.4612]; at logit -10 dMSE/dlogit -9.1e-05, dBCE -1.0.
"""
import argparse
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

DISTRIBUTIONS = [[1 / 4.0] * 4, [0.1, 0.1, 0.1, 0.7], [0.001, 0.001, 0.001, 0.997]]  # the notes'


def entropy_bits(p):
    return -(p * torch.log2(p)).sum()  # the notes' -sum p log2 p as written: prints tensor(2.)


def cross_entropy_and_kl(p, q):
    """H(p, q) = -sum p ln q, H(p), KL(p||q) in nats. 003's "-1/m p(x) log q(x)" lacks the sum
    over x; its 1/m belongs to a mean over m samples, not to two distributions."""
    h_p = torch.special.entr(p).sum()  # -p ln p elementwise, 0 ln 0 = 0 for a one-hot p
    return -(p * torch.log(q)).sum(), h_p, F.kl_div(torch.log(q), p, reduction="sum")


def cross_entropy_three_ways(logits, target):
    """One loss three ways; log(softmax) underflows to -inf far from the max, log_softmax not.
    dim=1, the classes: F.softmax(logits) without dim guesses and warns."""
    return {"F.cross_entropy(logits, y)": F.cross_entropy(logits, target),
            "F.nll_loss(torch.log(F.softmax(logits, dim=1)), y)":
                F.nll_loss(torch.log(F.softmax(logits, dim=1)), target),
            "F.nll_loss(F.log_softmax(logits, dim=1), y)":
                F.nll_loss(F.log_softmax(logits, dim=1), target)}


def softmax_twice(logits, target):
    """000's "必须使用logits": [loss on logits, on softmax(logits), |grad| of each w.r.t. logits]."""
    z = logits.detach().requires_grad_()
    losses = [F.cross_entropy(z, target), F.cross_entropy(F.softmax(z, dim=1), target)]
    grads = [torch.autograd.grad(loss, z, retain_graph=True)[0].norm() for loss in losses]
    return [v.item() for v in losses + grads]


def binary_cross_entropy_three_ways(logits, y):
    o = torch.sigmoid(logits)  # the formula on sigmoid outputs, F.binary_cross_entropy, ..._logits
    formula = -(y * torch.log(o) + (1 - y) * torch.log(1 - o)).mean()
    return formula, F.binary_cross_entropy(o, y), F.binary_cross_entropy_with_logits(logits, y)


def logit_gradients(z, target):
    z, t = z.detach().requires_grad_(), torch.full_like(z, target)  # MSE on sigmoid(z) and BCE
    mse = F.mse_loss(torch.sigmoid(z), t, reduction="sum")
    bce = F.binary_cross_entropy_with_logits(z, t, reduction="sum")
    return [torch.autograd.grad(loss, z)[0] for loss in (mse, bce)]  # 2(s - t)s(1 - s), s - t


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="LS22: entropy, cross entropy, and why not MSE")
    parser.add_argument("--seed", type=int, default=0)
    torch.manual_seed(parse_flags(parser, argv).seed)
    print("# information content I(x) = -log2 p(x): the rarer, the more informative")
    for p in [1.0, 0.5, 0.25, 0.1]:  # 003 "1.3": p = 1 tells nothing, 0 bits
        print(f"p = {p:<4}  I = {math.log2(1 / p):.3f} bits")
    # Their mean: 004's "熵越高…惊喜度越低" is backwards, higher entropy = more surprise on average.
    print("\n# entropy H = -sum p log2 p in bits: the more even, the higher (the last two: 003's "
          "exam, a yes/no event, Li Hua passes with p = 0.1, Zhang Hua with p = 0.5)")
    for p in DISTRIBUTIONS + [[0.1, 0.9], [0.5, 0.5]]:
        print(f"H({p}) = {entropy_bits(torch.tensor(p))!s}")
    print("\n# H(p, q) = H(p) + KL(p||q) in nats; P = Q: KL = 0; one-hot p: H(p) = 0, H(p, q) = KL")
    p, q = F.softmax(torch.randn(2, 5, dtype=torch.float64), dim=1)  # two random distributions
    one_hot = F.one_hot(torch.tensor(2), 5).double()
    for name, (a, b) in {"random p, q": (p, q), "P = Q": (p, p), "one-hot p": (one_hot, q)}.items():
        h_pq, h_p, kl = cross_entropy_and_kl(a, b)
        print(f"{name:<12} H(p, q) = {h_pq:.6f}   H(p) = {h_p:.6f}   KL(p||q) = {kl:.6f}")
    # The notes' unseeded randn gave 76.0477, 16.3820 and 73.18791198730469 (not reproducible);
    # the identity is, here with a seed. 004 prints .item(), 000/001 the tensor.
    x, w, b = torch.randn(1, 784), torch.randn(10, 784), torch.randn(1, 10)  # 28x28, 10 digits
    for title, logits, target in [("000/001: logits = x @ w.t()", x @ w.t(), 3),
                                  ("004: logits = x @ w.t() + b", x @ w.t() + b, 4),
                                  ("why log_softmax: logits [[0, 120]]",  # e^-120 underflows
                                   torch.tensor([[0.0, 120.0]]), 0)]:
        print(f"\n# {title}, target {target}\nlogits.shape: {logits.shape}")
        for name, loss in cross_entropy_three_ways(logits, torch.tensor([target])).items():
            print(f"{name:<51} =", loss.item() if title.startswith("004") else loss)
    print("\n# cross_entropy wants logits: fed softmax outputs it softmaxes twice, the loss stays "
          "in [ln(1 + 9/e), ln(e + 9)] = [1.4612, 2.4612] and the gradient shrinks")
    sure = F.one_hot(torch.tensor([3]), 10) * 20.0  # (1, 10): confidently right, class 3
    for name, logits in {"confidently right": sure, "000's x @ w.t()": x @ w.t()}.items():
        right, wrong, g_right, g_wrong = softmax_twice(logits, torch.tensor([3]))
        print(f"{name:<17}: on logits {right:7.4f} (|grad| {g_right:.4f}), "
              f"on softmax {wrong:.4f} (|grad| {g_wrong:.2e})")
    print("\n# binary cross entropy: formula on sigmoid, F.binary_cross_entropy, ..._with_logits")
    z, y = torch.randn(6, dtype=torch.float64), torch.randint(0, 2, (6,)).double()
    print(" = ".join(f"{v.item():.6f}" for v in binary_cross_entropy_three_ways(z, y)))
    # 000's "mse并没有改变" (3 right, 2 wrong before and after an update) is the accuracy, flat in
    # w (logistic_regression.py); the MSE does change. What fails with sigmoid + MSE is this:
    print("\n# why not MSE: target 1; MSE's d loss/d logit carries sigmoid' = s(1-s), ~0 when "
          f"confidently wrong\n{'logit':>6} {'sigmoid':>9} {'dMSE/dlogit':>12} {'dBCE/dlogit':>12}")
    z = torch.tensor([-10.0, -6.0, -2.0, 0.0, 2.0], dtype=torch.float64)  # wrong to right
    g_mse, g_bce = logit_gradients(z, 1.0)
    for zi, gm, gb in zip(z.tolist(), g_mse.tolist(), g_bce.tolist()):
        print(f"{zi:>6.1f} {1 / (1 + math.exp(-zi)):>9.5f} {gm:>12.2e} {gb:>12.2e}")
    return {"on_softmax": wrong, "dmse_at_-10": g_mse[0].item(), "dbce_at_-10": g_bce[0].item()}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parse_args(argv), every default in --help; main() in a notebook kernel runs the defaults."""
    for action in parser._actions:
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)


if __name__ == "__main__":
    main()
