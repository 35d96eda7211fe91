"""LS22.交叉熵 / Entropy and cross entropy.

I(x) = -log2 p(x) and entropy, its mean; H(p, q) = H(p) + KL(p||q) (P = Q: KL = 0; one-hot p:
H(p, q) = KL); F.cross_entropy = nll_loss(log(softmax)) = nll_loss(log_softmax), and why it wants
logits; binary cross entropy three ways; why not MSE.

Run:    python scripts/entropy.py   (or: make entropy)
Expect: H = tensor(2.), tensor(1.3568), tensor(0.0342), the exam's 0.4690 and 1; P = Q: KL = 0;
        logits.shape and pred.shape torch.Size([1, 10]) as in the notes; fed softmax outputs, the
        loss stays in [1.4612, 2.4612]; at logit -10 dMSE/dlogit -9.1e-05, dBCE -1.0.

Try:    --logit-gap 80   log(softmax) gives 80 like log_softmax (e^-80 fits a float32); 104 on: inf
        --seed 5         other random p, q and logits: KL > 0 but for P = Q, the three ways agree
"""
import argparse
import math
import sys
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F

PROBABILITIES = [1.0, 0.5, 0.25, 0.1]  # from certain to rare: I(x) = 0, 1, 2, 3.32 bits
DISTRIBUTIONS = [[1 / 4.0] * 4, [0.1, 0.1, 0.1, 0.7], [0.001, 0.001, 0.001, 0.997]]  # LS22's
EXAM = [[0.1, 0.9], [0.5, 0.5]]  # the self-notes' exam: Li Hua passes with p = 0.1, Zhang Hua 0.5
LOSS_LABELS = ("F.cross_entropy(logits, y)", "F.nll_loss(torch.log(F.softmax(logits, dim=1)), y)",
               "F.nll_loss(F.log_softmax(logits, dim=1), y)")
LOGIT_GAP = 120.0  # ours, logits [[0, 120]]: e^-120 underflows to 0 in float32 (from ~104 on)
CONFIDENT = 20.0  # ours: a logit 20 above the other nine, confidently right
MSE_LOGITS = [-10.0, -6.0, -2.0, 0.0, 2.0]  # ours: from confidently wrong to right, target 1
SEED = 0


def entropy_bits(p):
    return -(p * torch.log2(p)).sum()  # LS22's -sum p log2 p as written: prints tensor(2.)


def show_information_content(probabilities):
    # The self-notes' 信息量: the rarer, the more informative; p = 1 tells nothing, 0 bits.
    print("== 信息量 / information content: I(x) = -log2 p(x) ==")
    for p in probabilities:
        print(f"p = {p:<4}  I = {math.log2(1 / p):.3f} bits")


def show_entropies(distributions):
    # Entropy is the mean information content: the more even, the higher. The classification
    # notes' "熵越高…惊喜度越低" is backwards: higher entropy = more surprise on average.
    print("\n== 熵 / Entropy: H = -sum p log2 p, in bits ==")
    for p in distributions:
        print(f"H({p}) = {entropy_bits(torch.tensor(p))!s}")


def cross_entropy_and_kl(p, q):
    """H(p, q) = -sum p ln q, H(p), KL(p||q) in nats. The self-notes' "-1/m p(x) log q(x)" lacks
    the sum over x; its 1/m belongs to a mean over m samples, not to two distributions."""
    h_p = torch.special.entr(p).sum()  # -p ln p elementwise, 0 ln 0 = 0 for a one-hot p
    return -(p * torch.log(q)).sum(), h_p, F.kl_div(torch.log(q), p, reduction="sum")


def show_cross_entropy_and_kl(p, q, one_hot):
    # LS22: the more alike p and q, the closer KL is to 0. P = Q: KL = 0 and the cross entropy is
    # the entropy; a one-hot p has H(p) = 1 log 1 = 0, so the classification loss is a KL.
    print("\n== 交叉熵 / Cross Entropy: H(p, q) = H(p) + KL(p||q), in nats ==")
    for name, (a, b) in [("random p, q", (p, q)), ("P = Q", (p, p)), ("one-hot p", (one_hot, q))]:
        h_pq, h_p, kl = cross_entropy_and_kl(a, b)
        print(f"{name:<12} H(p, q) = {h_pq:.6f}   H(p) = {h_p:.6f}   KL(p||q) = {kl:.6f}")


def cross_entropy_three_ways(logits, target):
    """One loss three ways: F.cross_entropy, nll_loss of log(softmax), nll_loss of log_softmax."""
    pred = F.softmax(logits, dim=1)  # dim=1, the classes: without dim softmax guesses and warns
    return (F.cross_entropy(logits, target),  # softmax + log + nll_loss in one
            F.nll_loss(torch.log(pred), target),  # log(softmax): -inf where softmax underflows
            F.nll_loss(F.log_softmax(logits, dim=1), target))  # log_softmax: no underflow


def show_cross_entropy(heading, logits, target, pred_name="pred", as_item=False):
    """One 交叉熵 cell: the shapes it prints, then the loss three ways (as_item: loss.item(), as the
    classification notes print it; the others print the tensor). The notes' unseeded randn gave
    76.0477, 16.3820 and 73.18791198730469, not reproducible; the identity is, here with a seed."""
    print(f"\n== {heading}, target {target} ==")
    print(f"logits.shape = {logits.shape}")  # (1, C): one image, C classes
    print(f"{pred_name}.shape = {F.softmax(logits, dim=1).shape}")  # softmax and log keep it
    for label, loss in zip(LOSS_LABELS, cross_entropy_three_ways(logits, torch.tensor([target]))):
        print(f"{label:<51} =", loss.item() if as_item else loss)


class LogitsOrSoftmax(NamedTuple):
    """cross_entropy fed the logits or fed softmax(logits): each loss and its |d/d logits|."""
    loss_on_logits: float
    loss_on_softmax: float
    grad_on_logits: float
    grad_on_softmax: float


def softmax_twice(logits, target):
    """The details notes' "使用交叉熵必须使用logits": cross_entropy of the logits and of the
    softmax outputs, which it softmaxes a second time."""
    z = logits.detach().requires_grad_()
    on_logits, on_softmax = F.cross_entropy(z, target), F.cross_entropy(F.softmax(z, dim=1), target)
    grads = [torch.autograd.grad(loss, z, retain_graph=True)[0].norm().item()
             for loss in (on_logits, on_softmax)]
    return LogitsOrSoftmax(on_logits.item(), on_softmax.item(), *grads)


def show_cross_entropy_wants_logits(named_logits, target):
    # Softmax outputs lie in [0, 1]: softmaxed again, 10 classes keep the loss in
    # [ln(1 + 9/e), ln(e + 9)] = [1.4612, 2.4612], and the gradient shrinks.
    print("\n== 使用交叉熵必须使用logits / cross_entropy wants logits, not softmax outputs ==")
    results = [softmax_twice(logits, target) for _, logits in named_logits]
    for (name, _), r in zip(named_logits, results):
        print(f"{name:<17}: on logits {r.loss_on_logits:7.4f} (|grad| {r.grad_on_logits:.4f}), "
              f"on softmax {r.loss_on_softmax:.4f} (|grad| {r.grad_on_softmax:.2e})")
    return results


def binary_cross_entropy_three_ways(logits, y):
    o = torch.sigmoid(logits)  # the formula on sigmoid outputs, F.binary_cross_entropy, ..._logits
    formula = -(y * torch.log(o) + (1 - y) * torch.log(1 - o)).mean()
    return formula, F.binary_cross_entropy(o, y), F.binary_cross_entropy_with_logits(logits, y)


def show_binary_cross_entropy(logits, y):
    # LS22: H(P, Q) = -P(cat) log Q(cat) - (1 - P(cat)) log(1 - Q(cat)), averaged over samples
    print("\n== Binary Classification: formula = F.binary_cross_entropy = ..._with_logits ==")
    print(" = ".join(f"{v.item():.6f}" for v in binary_cross_entropy_three_ways(logits, y)))


def logit_gradients(z, target):
    z, t = z.detach().requires_grad_(), torch.full_like(z, target)  # MSE on sigmoid(z) and BCE
    mse = F.mse_loss(torch.sigmoid(z), t, reduction="sum")
    bce = F.binary_cross_entropy_with_logits(z, t, reduction="sum")
    return [torch.autograd.grad(loss, z)[0] for loss in (mse, bce)]  # 2(s - t)s(1 - s), s - t


def show_why_not_mse(logits):
    # The details notes' "mse并没有改变" (3 right, 2 wrong before and after an update) is the
    # accuracy, flat in w (logistic_regression.py); the MSE does change. What fails with sigmoid
    # + MSE is this: its d loss/d logit carries sigmoid' = s(1 - s), ~0 when confidently wrong.
    print("\n== 交叉熵, not MSE: sigmoid + mse, target 1 ==")
    print(f"{'logit':>6} {'sigmoid':>9} {'dMSE/dlogit':>12} {'dBCE/dlogit':>12}")
    g_mse, g_bce = logit_gradients(logits, 1.0)
    for z, gm, gb in zip(logits.tolist(), g_mse.tolist(), g_bce.tolist()):
        print(f"{z:>6.1f} {1 / (1 + math.exp(-z)):>9.5f} {gm:>12.2e} {gb:>12.2e}")
    return g_mse, g_bce


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="LS22: entropy, cross entropy, and why not MSE")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--logit-gap", type=float, default=LOGIT_GAP,
                        help="the underflow example's logits [[0, GAP]], target 0")
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)
    show_information_content(PROBABILITIES)
    show_entropies(DISTRIBUTIONS + EXAM)
    p, q = F.softmax(torch.randn(2, 5, dtype=torch.float64), dim=1)  # two random distributions
    show_cross_entropy_and_kl(p, q, one_hot=F.one_hot(torch.tensor(2), 5).double())
    x, w, b = torch.randn(1, 784), torch.randn(10, 784), torch.randn(1, 10)  # 28x28, 10 digits
    show_cross_entropy("交叉熵, the details notes and LS22: logits = x @ w.t()", x @ w.t(), 3)
    show_cross_entropy("交叉熵, the classification notes: logits = x @ w.t() + b", x @ w.t() + b, 4,
                       pred_name="pred_log", as_item=True)
    show_cross_entropy(f"log_softmax, not log(softmax): logits [[0, {args.logit_gap:g}]]",
                       torch.tensor([[0.0, args.logit_gap]]), 0)
    sure = F.one_hot(torch.tensor([3]), 10) * CONFIDENT  # (1, 10): confidently right, class 3
    _, on_details = show_cross_entropy_wants_logits(
        [("confidently right", sure), ("details x @ w.t()", x @ w.t())], torch.tensor([3]))
    show_binary_cross_entropy(torch.randn(6, dtype=torch.float64),
                              torch.randint(0, 2, (6,)).double())
    g_mse, g_bce = show_why_not_mse(torch.tensor(MSE_LOGITS, dtype=torch.float64))
    return {"on_softmax": on_details.loss_on_softmax, "dmse_at_-10": g_mse[0].item(),
            "dbce_at_-10": g_bce[0].item()}

# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults


if __name__ == "__main__":
    main()
