"""LS17.激活函数与LOSS的梯度: Loss函数 / The gradient of a loss: MSE and softmax.

x = 1, w = 2, y = 1: F.mse_loss(x*w, y) = 1, gradient 2(wx - y)x = 2 by autograd.grad and backward;
what autograd refuses; softmax's Jacobian by autograd.grad vs p_i(delta_ij - p_j), the notes' rows.

Run:    python scripts/loss_grad.py   (or: make loss_grad)
Expect: the notes' tensor(1., grad_fn=<MseLossBackward0>), (tensor([2.]),) and tensor([2.]);
        softmax([2.0, 1.0, 0.1]) = [0.6590, 0.2424, 0.0986], the notes' 0.7, 0.2, 0.1 rounded.
"""
import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

X, W, Y = 1.0, 2.0, 1.0  # the notes' y = w*x with x = 1, w = 2 and target 1: MSE (2-1)^2 = 1
SOFTMAX_EXAMPLE = [2.0, 1.0, 0.1]  # the notes' softmax example, "= 0.7, 0.2, 0.1"
# LS17's two printed rows, autograd.grad(p[1], [a]) and (p[2], [a]) for an unseeded a = rand(3)
NOTES_ROWS = [[-0.1005, 0.2052, -0.1048], [-0.1265, -0.1048, 0.2313]]
SEED = 0  # for the random 5-sample batch


def mse_grad_two_ways(x, w, y, reduction="mean"):
    """The MSE and its gradient via autograd.grad, then the same via backward() into w.grad."""
    w = w.clone().requires_grad_()  # 允许计算梯度: without it autograd has nothing to differentiate
    mse = F.mse_loss(x * w, y, reduction=reduction)  # "mean" averages (wx - y)^2, "sum" adds
    grads = torch.autograd.grad(mse, [w])  # a tuple: one gradient per input listed
    F.mse_loss(x * w, y, reduction=reduction).backward()  # autograd.grad freed the graph: again
    return mse, grads, w.grad  # the same gradient, written into w.grad instead of returned


def refusal(call):
    """The RuntimeError autograd raises for call(), as text: what it refuses and why."""
    try:
        call()
    except RuntimeError as e:
        return str(e)
    raise AssertionError("autograd accepted a call it should refuse")


def softmax_jacobian(a):
    """Row i: autograd.grad of p_i with respect to a, keeping the graph for the next row."""
    a = a.detach().requires_grad_()
    p = F.softmax(a, dim=0)  # (n,)
    rows = [torch.autograd.grad(p[i], [a], retain_graph=True)[0] for i in range(len(p))]
    return p.detach(), torch.stack(rows)  # (n,), (n, n): J[i, j] = dp_i / da_j


def probabilities_behind_rows(rows):
    """The p behind Jacobian rows 1, 2 from their off-diagonal entries J_ij = −p_i·p_j (i ≠ j)."""
    (j10, _, j12), (j20, _, _) = rows
    p1 = (-j12 * j10 / j20) ** 0.5  # (p1·p2)·(p1/p2) = p1²
    return [-j10 / p1, p1, -j12 / p1]


def main(argv=None):
    parser = argparse.ArgumentParser(description="LS17: the gradient of MSE and of softmax",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--seed", type=int, default=SEED)
    torch.manual_seed(parse_flags(parser, argv).seed)
    x, w, y = torch.full([1], X), torch.full([1], W), torch.full([1], Y)  # (1,) each
    mse, grads, w_grad = mse_grad_two_ways(x, w, y)
    print("mse = F.mse_loss(x * w, torch.ones(1)) =", mse, " # (2-1)^2")
    print("torch.autograd.grad(mse, [w]) =", grads, " # 2*(2-1)*1")
    print("w.grad after mse.backward() =", w_grad)
    print("without w.requires_grad_(): RuntimeError:",  # the notes: 没有这个会报错
          refusal(lambda: torch.autograd.grad(F.mse_loss(x * w, y), [w])))
    xs, ys = torch.randn(5), torch.randn(5)  # (5,): a batch, where sum and mean differ
    g_sum, g_mean = (mse_grad_two_ways(xs, w, ys, r)[2].item() for r in ("sum", "mean"))
    print(f"\n# 5 samples: grad of sum (the notes' MSE) = {g_sum:.4f}, "
          f"grad of F.mse_loss (a mean) = {g_mean:.4f} = 1/5 of it")
    a = torch.tensor(SOFTMAX_EXAMPLE)  # the notes' rows came from an unseeded torch.rand(3)
    p, jacobian = softmax_jacobian(a)
    print(f"\n# softmax of a = tensor({SOFTMAX_EXAMPLE})\np = F.softmax(a, dim=0) =", p,
          "| rounded, the notes':", [round(v, 1) for v in p.tolist()])
    for i, row in zip([1, 2], NOTES_ROWS):
        print(f"torch.autograd.grad(p[{i}], [a]) =", (jacobian[i],), "| notes (their a):", row)
    gap = (jacobian - (torch.diag(p) - torch.outer(p, p))).abs().max().item()
    print(f"max |autograd - p_i(delta_ij - p_j)| = {gap:.1e}")
    q = probabilities_behind_rows(NOTES_ROWS)
    print(f"the notes' rows fit one p = {[round(v, 3) for v in q]}: its p_i(1 - p_i) =",
          [round(v * (1 - v), 4) for v in q[1:]], "| notes:", [NOTES_ROWS[0][1], NOTES_ROWS[1][2]])
    print("Loss只能1维 = one element: torch.autograd.grad(p, [a]) of all 3 -> RuntimeError:",
          refusal(lambda: torch.autograd.grad(F.softmax(a.requires_grad_(), dim=0), [a])))
    return {"mse": mse.item(), "grad": grads[0].item(), "w.grad": w_grad.item(),
            "softmax_example": p.tolist(), "jacobian_gap": gap}


# ---- plumbing: identical in every script (tests/test_contract.py) ----

def parse_flags(parser, argv):
    """parse_args(argv), every default in --help; main() in a notebook kernel runs the defaults."""
    for action in parser._actions:
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)


if __name__ == "__main__":
    main()
