"""LS17.激活函数与LOSS的梯度: Loss函数 / The gradient of a loss: MSE and softmax.

x = 1, w = 2, y = 1: F.mse_loss(x*w, y) = 1, gradient 2(wx - y)x = 2 by autograd.grad and backward;
what autograd refuses; softmax's Jacobian by autograd.grad vs p_i(delta_ij - p_j), the notes' rows.

Run:    python scripts/loss_grad.py   (or: make loss_grad)
Expect: the notes' tensor(1., grad_fn=<MseLossBackward0>), (tensor([2.]),) and tensor([2.]);
        softmax([2.0, 1.0, 0.1]) = [0.6590, 0.2424, 0.0986], the notes' 0.7, 0.2, 0.1 rounded.

Try:    --a 0.8 0.6112 0.8418   an a the notes' unseeded torch.rand(3) could have drawn: the two
                                rows print as the notes' (tensor([-0.1005,  0.2052, -0.1048]),)
                                and (tensor([-0.1265, -0.1048,  0.2313]),)
        --seed 1                another 5-sample batch: the sum's gradient is still 5x the mean's
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
SAMPLES = 5  # ours: a random batch, where the gradients of a sum and of a mean differ
SEED = 0  # for that batch


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


def show_mse_gradient(x, w, y):
    """The notes' In [129] and In [130]: the MSE, its gradient by autograd.grad and by backward."""
    print("== Loss函数: MSE = sum (f(x) - y)^2 and its gradient ==")
    mse, grads, w_grad = mse_grad_two_ways(x, w, y)
    print("mse = F.mse_loss(x * w, torch.ones(1)) =", mse)  # (2-1)^2
    print("torch.autograd.grad(mse, [w]) =", grads)  # 2*(2-1)*1
    print("w.grad after mse.backward() =", w_grad)
    print("without w.requires_grad_(): RuntimeError:",  # the notes: 没有这个会报错
          refusal(lambda: torch.autograd.grad(F.mse_loss(x * w, y), [w])))
    return mse, grads, w_grad


def show_sum_and_mean(xs, w, ys):
    # The notes' MSE is a sum; F.mse_loss divides it by the count, and its gradient with it.
    print("\n== Loss函数: the notes' MSE is a sum, F.mse_loss a mean ==")
    g_sum, g_mean = (mse_grad_two_ways(xs, w, ys, r)[2].item() for r in ("sum", "mean"))
    print(f"{len(xs)} samples: grad of sum (the notes' MSE) = {g_sum:.4f}, "
          f"grad of F.mse_loss (a mean) = {g_mean:.4f} = 1/{len(xs)} of it")


def softmax_jacobian(a):
    """Row i: autograd.grad of p_i with respect to a, keeping the graph for the next row."""
    a = a.detach().requires_grad_()
    p = F.softmax(a, dim=0)  # (n,)
    rows = [torch.autograd.grad(p[i], [a], retain_graph=True)[0] for i in range(len(p))]
    return p.detach(), torch.stack(rows)  # (n,), (n, n): J[i, j] = dp_i / da_j


def show_softmax_jacobian(values, notes_rows):
    """p = softmax(a), then rows 1 and 2 of its Jacobian as the notes print them, beside theirs
    (their a was an unseeded torch.rand(3)), and autograd against p_i(delta_ij - p_j)."""
    print(f"\n== Soft version of max: softmax and its gradient ==\na = tensor({values})")
    p, jacobian = softmax_jacobian(torch.tensor(values))
    print("p = F.softmax(a, dim=0) =", p, "| rounded:", [round(v, 1) for v in p.tolist()])
    for i, row in zip([1, 2], notes_rows):
        print(f"torch.autograd.grad(p[{i}], [a]) =", (jacobian[i],), "| notes (their a):", row)
    gap = (jacobian - (torch.diag(p) - torch.outer(p, p))).abs().max().item()
    print(f"max |autograd - p_i(delta_ij - p_j)| = {gap:.1e}")
    return p, gap


def probabilities_behind_rows(rows):
    """The p behind Jacobian rows 1, 2 from their off-diagonal entries J_ij = −p_i·p_j (i ≠ j)."""
    (j10, _, j12), (j20, _, _) = rows
    p1 = (-j12 * j10 / j20) ** 0.5  # (p1·p2)·(p1/p2) = p1²
    return [-j10 / p1, p1, -j12 / p1]


def show_notes_rows_fit(rows):
    # Three off-diagonal entries give p; the diagonal p_i(1 - p_i), not used, checks the fit.
    p = probabilities_behind_rows(rows)
    print(f"the notes' rows fit one p = {[round(v, 3) for v in p]}: its p_i(1 - p_i) =",
          [round(v * (1 - v), 4) for v in p[1:]], "| notes:", [rows[0][1], rows[1][2]])


def show_vector_output_refused(a):
    # The notes' "Loss只能1维": autograd.grad wants one element (a scalar), not a vector.
    p = F.softmax(a.detach().requires_grad_(), dim=0)
    print("Loss只能1维 = one element: torch.autograd.grad(p, [a]) of all 3 -> RuntimeError:",
          refusal(lambda: torch.autograd.grad(p, [a])))


def main(argv=None):
    parser = argparse.ArgumentParser(description="LS17: the gradient of MSE and of softmax",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--a", type=float, nargs=3, default=SOFTMAX_EXAMPLE, metavar="A",
                        help="the softmax example's input a")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)
    x, w, y = torch.full([1], X), torch.full([1], W), torch.full([1], Y)  # (1,) each
    mse, grads, w_grad = show_mse_gradient(x, w, y)
    show_sum_and_mean(torch.randn(SAMPLES), w, torch.randn(SAMPLES))  # (5,) inputs, (5,) targets
    p, gap = show_softmax_jacobian(args.a, NOTES_ROWS)
    show_notes_rows_fit(NOTES_ROWS)
    show_vector_output_refused(torch.tensor(args.a))
    return {"mse": mse.item(), "grad": grads[0].item(), "w_grad": w_grad.item(),
            "softmax": p.tolist(), "jacobian_gap": gap}

# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults


if __name__ == "__main__":
    main()
