"""LS22.交叉熵 / Entropy and cross entropy.

Information content I(x) = -log2 p(x) and entropy as its average, in bits, for the notes' three
distributions and a pass/fail exam; H(p, q) = H(p) + KL(p||q)
(so for a one-hot p cross entropy is KL), F.cross_entropy = nll_loss(log(softmax)) =
nll_loss(log_softmax), binary cross entropy three ways, and why not MSE: for a confidently wrong
sigmoid output the MSE gradient with respect to the logit nearly vanishes, cross entropy's does not.

Run:    python scripts/entropy.py   (or: make entropy)
Expect: tensor(2.), tensor(1.3568), tensor(0.0342); binary entropy 0.469 bits at p = 0.1 and 1 at
        p = 0.5; the equal pairs equal; at logit -10 dMSE/dlogit = -9.1e-05 vs dBCE/dlogit = -1.0.
"""
import argparse
import math

import torch
import torch.nn.functional as F

DISTRIBUTIONS = [[1 / 4.0] * 4, [0.1, 0.1, 0.1, 0.7], [0.001, 0.001, 0.001, 0.997]]  # the notes'
EXAM_PASS = [0.1, 0.5]  # 003's exam: Li Hua passes with p = 0.1, Zhang Hua with p = 0.5
CLASSES = 10  # the notes' w = torch.randn(10, 784): ten digits
FEATURES = 784  # one flattened 28x28 MNIST image
WRONG_LOGITS = [-10.0, -6.0, -2.0, 0.0, 2.0]  # target 1: from confidently wrong to right
SEED = 0


def information_bits(p):
    """003 "1.3": the information content of an event of probability p, I = -log2 p bits."""
    return math.log2(1 / p)  # = -log2 p; p = 1: 0 bits (nothing learned); p = 1/8: 3 bits


def entropy_bits(p):
    """The notes' -sum p log2 p, written as they wrote it (so it prints tensor(2.) exactly)."""
    return -(p * torch.log2(p)).sum()


def binary_entropy_bits(p):
    """H = -[p log2 p + (1 - p) log2(1 - p)] of a yes/no event with probability p."""
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def cross_entropy_and_kl(p, q):
    """H(p, q) = -sum p ln q, H(p) and KL(p||q) in nats; entr takes 0 ln 0 = 0 for one-hot p."""
    h_pq = -(p * torch.log(q)).sum()
    h_p = torch.special.entr(p).sum()  # -p ln p elementwise
    kl = F.kl_div(torch.log(q), p, reduction="sum")  # PyTorch's own KL: sum p (ln p - ln q)
    return h_pq, h_p, kl


def cross_entropy_three_ways(logits, target):
    """F.cross_entropy, nll_loss of log(softmax) and nll_loss of log_softmax: one number."""
    ce = F.cross_entropy(logits, target)
    # dim=1, over the classes: F.softmax(logits) without dim is deprecated (it guesses and warns).
    pred_log = torch.log(F.softmax(logits, dim=1))  # (1, 10): underflows to -inf far from the max
    return ce, F.nll_loss(pred_log, target), F.nll_loss(F.log_softmax(logits, dim=1), target)


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


def show_multiclass(title, logits, target, as_item):
    """Print the three cross entropies as the notes print them (tensor or .item()); return them."""
    losses = cross_entropy_three_ways(logits, target)
    print(f"\n# {title}, target {target.item()}")
    print(logits.shape)
    names = ["F.cross_entropy(logits, y)", "F.nll_loss(torch.log(F.softmax(logits, dim=1)), y)",
             "F.nll_loss(F.log_softmax(logits, dim=1), y)"]
    for name, loss in zip(names, losses):
        print(f"{name:<51} =", loss.item() if as_item else loss)
    return {"logits": logits, "target": target, "losses": losses}


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="LS22: entropy, cross entropy, and why not MSE")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    print("# information content I(x) = -log2 p(x): the rarer, the more informative")
    for p in [1.0, 0.5, 0.25, 0.1]:
        print(f"p = {p:<4}  I = {information_bits(p):.4g} bits")

    # Entropy = the average information content. 004 has it backwards ("熵越高…惊喜度越低", higher
    # entropy = less surprise): the higher the entropy, the more surprise on average.
    print("\n# entropy in bits: the more even, the higher")
    entropies = [entropy_bits(torch.tensor(p)) for p in DISTRIBUTIONS]
    for h in entropies:
        print(h)
    print("\n# binary entropy of 003's exam (bits)")
    exam = {p: binary_entropy_bits(p) for p in EXAM_PASS}
    for p, h in exam.items():
        print(f"pass with p = {p}: H = {h:.3g}")

    print("\n# H(p, q) = H(p) + KL(p||q), in nats")
    p = F.softmax(torch.randn(5, dtype=torch.float64), dim=0)  # (5,): two random distributions
    q = F.softmax(torch.randn(5, dtype=torch.float64), dim=0)
    h_pq, h_p, kl = cross_entropy_and_kl(p, q)
    print(f"random p, q:  H(p, q) = {h_pq:.6f}   H(p) + KL = {h_p:.6f} + {kl:.6f} = {h_p + kl:.6f}")
    one_hot = F.one_hot(torch.tensor(2), 5).double()
    oh_pq, oh_p, oh_kl = cross_entropy_and_kl(one_hot, q)
    print(f"one-hot p:    H(p, q) = {oh_pq:.6f}   H(p) = {oh_p:.6f}, so H(p, q) = KL = {oh_kl:.6f}")

    # The notes' x, w (and 004's b) came from an unseeded randn: their 76.0477, 16.3820 and
    # 73.18791198730469 cannot be reproduced; the identity they show can, here with a seed.
    x, w, b = torch.randn(1, FEATURES), torch.randn(CLASSES, FEATURES), torch.randn(1, CLASSES)
    multi = show_multiclass("000/001: logits = x @ w.t()", x @ w.t(), torch.tensor([3]), False)
    multi_bias = show_multiclass("004: logits = x @ w.t() + b", x @ w.t() + b, torch.tensor([4]),
                                 True)
    far = torch.tensor([[0.0, 120.0]])  # a gap of 120: e^-120 is below float32's smallest number
    unstable = show_multiclass("why log_softmax: logits [[0, 120]]", far, torch.tensor([0]), False)

    print("\n# binary cross entropy: formula on sigmoid, F.binary_cross_entropy, ..._with_logits")
    z = torch.randn(6, dtype=torch.float64)
    y = torch.randint(0, 2, (6,)).double()
    binary = binary_cross_entropy_three_ways(z, y)
    print(" = ".join(f"{v.item():.6f}" for v in binary))

    print("\n# why not MSE: target 1, sigmoid output; gradient of the loss w.r.t. the logit")
    logits = torch.tensor(WRONG_LOGITS, dtype=torch.float64)
    g_mse, g_bce = logit_gradients(logits, 1.0)
    print(f"{'logit':>6} {'sigmoid':>9} {'dMSE/dlogit':>12} {'dBCE/dlogit':>12}")
    for zi, gm, gb in zip(logits.tolist(), g_mse.tolist(), g_bce.tolist()):
        print(f"{zi:>6.1f} {1 / (1 + math.exp(-zi)):>9.5f} {gm:>12.2e} {gb:>12.2e}")
    print("MSE's gradient carries sigmoid' = s(1-s), ~0 when the output is confidently wrong")

    return {"entropies": [h.item() for h in entropies], "exam": exam,
            "cross_entropy": multi["losses"][0].item(), "dmse_at_-10": g_mse[0].item(),
            "dbce_at_-10": g_bce[0].item()}


if __name__ == "__main__":
    main()
