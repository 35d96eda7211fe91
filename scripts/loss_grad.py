"""LS17.激活函数与LOSS的梯度: Loss函数 / The gradient of a loss: MSE and softmax.

With x = 1, w = 2, y = 1: F.mse_loss(x*w, y) is 1 and its gradient 2(wx - y)x = 2, once through
torch.autograd.grad and once through backward(); without requires_grad autograd refuses; and the
softmax Jacobian from autograd.grad of each p_i equals p_i(delta_ij - p_j).

Run:    python scripts/loss_grad.py   (or: make loss_grad)
Expect: the notes' tensor(1., grad_fn=<MseLossBackward0>), (tensor([2.]),) and tensor([2.]) on
        labelled lines, softmax([2.0, 1.0, 0.1]) = [0.6590, 0.2424, 0.0986] ~ [0.7, 0.2, 0.1], and
        autograd's softmax Jacobian equal to the formula; autograd.grad of a vector refused.
"""
import argparse
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

X, W, Y = 1.0, 2.0, 1.0  # the notes' y = w*x with x = 1, w = 2 and target 1: MSE (2-1)^2 = 1
SOFTMAX_EXAMPLE = [2.0, 1.0, 0.1]  # the notes' softmax example, "= 0.7, 0.2, 0.1"
# LS17's two printed rows, autograd.grad(p[1], [a]) and (p[2], [a]) for an unseeded a = rand(3)
NOTES_ROWS = [[-0.1005, 0.2052, -0.1048], [-0.1265, -0.1048, 0.2313]]
SEED = 0  # for the random softmax input (the notes' torch.rand(3) was unseeded)


def mse_grad_two_ways(x, w, y):
    """The MSE and its gradient via autograd.grad, then the same via backward() into w.grad."""
    w = w.clone().requires_grad_()  # 允许计算梯度: without it autograd has nothing to differentiate
    mse = F.mse_loss(x * w, y)  # (wx - y)^2 averaged over the one element
    grads = torch.autograd.grad(mse, [w])  # a tuple: one gradient per input listed
    mse_again = F.mse_loss(x * w, y)  # autograd.grad freed the first graph: build it again
    mse_again.backward()  # writes the same gradient into w.grad instead of returning it
    return mse, grads, w.grad


def refusal(call):
    """The RuntimeError autograd raises for call(), as text: what it refuses and why."""
    try:
        call()
    except RuntimeError as e:
        return str(e)
    raise AssertionError("autograd accepted a call it should refuse")


def mse_sum_vs_mean(x, w, y):
    """The notes' MSE is a sum, 2*sum((wx - y) x); F.mse_loss averages: 1/n of it."""
    w = w.clone().requires_grad_()
    (g_sum,) = torch.autograd.grad(F.mse_loss(x * w, y, reduction="sum"), [w])
    (g_mean,) = torch.autograd.grad(F.mse_loss(x * w, y), [w])
    return g_sum, g_mean


def softmax_jacobian(a):
    """Row i: autograd.grad of p_i with respect to a, keeping the graph for the next row."""
    a = a.detach().requires_grad_()
    p = F.softmax(a, dim=0)  # (n,)
    rows = [torch.autograd.grad(p[i], [a], retain_graph=True)[0] for i in range(len(p))]
    return p.detach(), torch.stack(rows)  # (n,), (n, n): J[i, j] = dp_i / da_j


def probabilities_behind_rows(rows):
    """The p behind two Jacobian rows i = 1, 2 of softmax, J_ij = p_i(δij − p_j), from the
    off-diagonal entries only: J_10 = −p1·p0, J_12 = J_21 = −p1·p2, J_20 = −p2·p0."""
    (j10, _, j12), (j20, _, _) = rows
    ratio = j10 / j20  # p1 / p2
    p1 = math.sqrt(-j12 * ratio)  # (p1·p2)·(p1/p2) = p1²
    p2 = p1 / ratio
    p0 = -j10 / p1
    return [p0, p1, p2]


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="LS17: the gradient of MSE and of softmax")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)

    x, w, y = torch.full([1], X), torch.full([1], W), torch.full([1], Y)  # (1,) each
    mse, grads, w_grad = mse_grad_two_ways(x, w, y)
    print("mse = F.mse_loss(x * w, torch.ones(1)) =", mse, " # (2-1)^2")
    print("torch.autograd.grad(mse, [w]) =", grads, " # 2*(2-1)*1")
    print("w.grad after mse.backward() =", w_grad)
    print("without w.requires_grad_(): RuntimeError:",  # the notes: 没有这个会报错
          refusal(lambda: torch.autograd.grad(F.mse_loss(x * w, y), [w])))

    xs, ys = torch.randn(5), torch.randn(5)  # (5,): a batch, where sum and mean differ
    g_sum, g_mean = mse_sum_vs_mean(xs, w, ys)
    print(f"\n# 5 samples: grad of sum (the notes' MSE) = {g_sum.item():.4f}, "
          f"grad of F.mse_loss (a mean) = {g_mean.item():.4f} = 1/5 of it")

    p_example = F.softmax(torch.tensor(SOFTMAX_EXAMPLE), dim=0)
    print(f"\n# softmax\nF.softmax(tensor({SOFTMAX_EXAMPLE}), dim=0) =", p_example,
          "| rounded, the notes':", [round(v, 1) for v in p_example.tolist()])
    a = torch.rand(3)  # the notes' torch.rand(3) was unseeded: their rows cannot be reproduced
    p, jacobian = softmax_jacobian(a)
    print("a = torch.rand(3) =", a)
    for i, notes_row in zip([1, 2], NOTES_ROWS):
        print(f"torch.autograd.grad(p[{i}], [a]) =", (jacobian[i],), "| the notes, for their a:",
              notes_row)
    gap = (jacobian - (torch.diag(p) - torch.outer(p, p))).abs().max().item()
    print(f"max |autograd - p_i(delta_ij - p_j)| = {gap:.1e}")
    notes_p = probabilities_behind_rows(NOTES_ROWS)
    diagonal = [notes_p[i] * (1 - notes_p[i]) for i in (1, 2)]  # from the off-diagonal entries
    print("the notes' rows fit one p = ({:.3f}, {:.3f}, {:.3f}): its p_i(1 - p_i) = {:.4f}, "
          "{:.4f}, the notes' diagonal {}, {}".format(*notes_p, *diagonal, NOTES_ROWS[0][1],
                                                      NOTES_ROWS[1][2]))
    # The notes' "Loss只能1维": the output must be one element (p[1], or a (1,) tensor), not one
    # dimension (p is 1-D too): autograd.grad of the whole p is refused.
    a.requires_grad_()
    print("torch.autograd.grad(p, [a]), all 3 elements -> RuntimeError:",
          refusal(lambda: torch.autograd.grad(F.softmax(a, dim=0), [a])))
    return {"mse": mse.item(), "grad": grads[0].item(), "w.grad": w_grad.item(),
            "softmax_example": p_example.tolist(), "jacobian_gap": gap, "notes_p": notes_p}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parser.parse_args(argv); main() with no argv in a notebook kernel runs the defaults."""
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name
    return parser.parse_args([] if argv is None and in_kernel else argv)


if __name__ == "__main__":
    main()
