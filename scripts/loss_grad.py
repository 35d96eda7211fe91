"""LS17.激活函数与LOSS的梯度: Loss函数 / The gradient of a loss: MSE and softmax.

With x = 1, w = 2, y = 1: F.mse_loss(x*w, y) is 1 and its gradient 2(wx - y)x = 2, once through
torch.autograd.grad and once through backward(); without requires_grad autograd refuses; and the
softmax Jacobian from autograd.grad of each p_i equals p_i(delta_ij - p_j).

Run:    python scripts/loss_grad.py   (or: make loss_grad)
Expect: tensor(1., grad_fn=<MseLossBackward0>), (tensor([2.]),), w.grad tensor([2.]), the caught
        error, softmax([2.0, 1.0, 0.1]) = [0.6590, 0.2424, 0.0986] ~ [0.7, 0.2, 0.1], and autograd's
        softmax Jacobian equal to the formula; well under a second after imports.
"""
import argparse
import math

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


def grad_without_requires_grad(x, w, y):
    """autograd.grad of a loss whose w does not require grad: the error message."""
    mse = F.mse_loss(x * w, y)
    try:
        torch.autograd.grad(mse, [w])
    except RuntimeError as e:
        return str(e)
    raise AssertionError("autograd.grad accepted a tensor that does not require grad")


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


def non_scalar_grad_error(a):
    """autograd.grad needs a scalar output (the notes' "Loss只能1维"): a whole vector is refused."""
    a = a.detach().requires_grad_()
    try:
        torch.autograd.grad(F.softmax(a, dim=0), [a])
    except RuntimeError as e:
        return str(e)
    raise AssertionError("autograd.grad accepted a vector output without grad_outputs")


def main(argv=None):
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="LS17: the gradient of MSE and of softmax")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    x, w, y = torch.full([1], X), torch.full([1], W), torch.full([1], Y)  # (1,) each
    mse, grads, w_grad = mse_grad_two_ways(x, w, y)
    print(mse)  # (2-1)^2
    print(grads)  # 2*(2-1)*1
    print(w_grad)
    error = grad_without_requires_grad(x, w, y)
    print("without requires_grad_():", "RuntimeError:", error)

    xs, ys = torch.randn(5), torch.randn(5)  # (5,): a batch, where sum and mean differ
    g_sum, g_mean = mse_sum_vs_mean(xs, w, ys)
    print(f"\n# 5 samples: grad of sum (the notes' MSE) = {g_sum.item():.4f}, "
          f"grad of F.mse_loss (a mean) = {g_mean.item():.4f} = 1/5 of it")

    print("\n# softmax")
    example = torch.tensor(SOFTMAX_EXAMPLE)
    p_example = F.softmax(example, dim=0)
    rounded = [round(v, 1) for v in p_example.tolist()]
    print(f"softmax({SOFTMAX_EXAMPLE}) =", p_example, "~", rounded)
    # The notes' torch.rand(3) was unseeded: their two printed rows cannot be reproduced, the
    # formula they illustrate can.
    a = torch.rand(3)
    p, jacobian = softmax_jacobian(a)
    print((jacobian[1],))  # the notes' print(torch.autograd.grad(p[1], [a], retain_graph=True))
    print((jacobian[2],))
    formula = torch.diag(p) - torch.outer(p, p)  # p_i(1 - p_i) on the diagonal, -p_i p_j off it
    gap = (jacobian - formula).abs().max().item()
    print(f"max |autograd - p_i(delta_ij - p_j)| = {gap:.1e}")
    notes_p = probabilities_behind_rows(NOTES_ROWS)
    print("the notes' two rows fit one p = ({:.3f}, {:.3f}, {:.3f}): diagonal p_i(1 - p_i) = "
          "{:.4f}, {:.4f} (notes {}, {})".format(*notes_p, notes_p[1] * (1 - notes_p[1]),
                                                notes_p[2] * (1 - notes_p[2]),
                                                NOTES_ROWS[0][1], NOTES_ROWS[1][2]))
    print("a vector output without grad_outputs:", "RuntimeError:", non_scalar_grad_error(a))

    return {"mse": mse, "grads": grads, "w_grad": w_grad, "error": error, "g_sum": g_sum,
            "g_mean": g_mean, "xs": xs, "ys": ys, "softmax_example": p_example, "a": a, "p": p,
            "jacobian": jacobian}


if __name__ == "__main__":
    main()
