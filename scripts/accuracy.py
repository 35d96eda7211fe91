"""测试 / Testing: accuracy from logits, and testing on a held-out set per step or per epoch.

logits (4, 10) -> softmax -> argmax = the predicted labels (logits.argmax too: softmax keeps the
order), torch.eq against the labels, accuracy = correct.sum() / 4 on the notes' own predictions;
"test on step" vs "on epoch" on 3 overlapping blobs, held out, with net.eval() and no_grad().

Run:    python scripts/accuracy.py        (or: make accuracy)
Expect: [5, 3, 2, 2] vs [9, 3, 2, 4]: tensor([False,  True,  True, False]), accuracy 0.5 (the
        classification notes' example: 0.25); a test line every 4 steps, "Test set:" after each
        of 5 epochs, ~93% (they overlap).
Try:    --eval-every 12   test on step lands on each epoch's end: 5 step lines, each the same
                          numbers as the Test set line after it
        --eval-every 1 --epochs 1   a test after each of the 12 steps: the test loss falls
                          at every step (0.79 -> 0.36), the accuracy climbs from ~82% to ~93%
"""
import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# (pred_label, label): the details notes' example prints 0.5, the classification notes' 0.25
NOTES_EXAMPLES = [([5, 3, 2, 2], [9, 3, 2, 4]), ([8, 8, 6, 4], [9, 0, 3, 4])]
CENTERS = [(0.0, 2.0), (-1.73, -1.0), (1.73, -1.0)]  # 3 blobs 3.46 apart, unit std: they overlap
N_PER_CLASS = 200  # per class, for the training set and again for the held-out test set
EPOCHS, BATCH_SIZE, LR = 5, 50, 0.1  # plain SGD, 600 / 50 = 12 steps an epoch, converged in 5
EVAL_EVERY = 4  # "test on step": every 4 steps, so the 3rd test of an epoch falls at its end


def predict_labels(logits):
    """Predicted label = index of the largest probability; softmax is monotone: same as logits."""
    pred = F.softmax(logits, dim=1)  # (4, 10), each row sums to 1
    return pred, pred.argmax(dim=1), logits.argmax(dim=1)  # (4, 10), (4,), (4,)


def show_predictions(logits):
    """The notes' cell: softmax, then argmax on the probabilities and on the logits."""
    print("== 测试 / Testing: the predicted label ==")
    pred, pred_label, logits_label = predict_labels(logits)
    print(f"pred = F.softmax(logits, dim=1), pred.shape: {pred.shape}\n"
          f"pred.argmax(dim=1):   {pred_label}\n"
          f"logits.argmax(dim=1): {logits_label} (the same: softmax keeps the order)")
    print(f"logits.max(dim=1): {logits.max(dim=1)}")  # the classification notes: values, indices


def correct_mask(pred_label, label):
    """torch.eq marks the hits: (N,) bool."""
    return torch.eq(pred_label, label)


def accuracy_of(correct):
    """The hits over the batch size, as the notes write it: correct.sum().float().item() / N."""
    return correct.sum().float().item() / len(correct)


def show_notes_examples(examples):
    """Each of the notes' (pred_label, label) pairs: its torch.eq mask and its accuracy."""
    print("\n== 测试 / Testing: torch.eq and the accuracy ==")
    for notes_pred, notes_label in examples:
        correct = correct_mask(torch.tensor(notes_pred), torch.tensor(notes_label))
        print(f"\nthe notes' pred_label {notes_pred}, label {notes_label}\n"
              f"torch.eq(pred_label, label): {correct}\naccuracy: {accuracy_of(correct)}")


def make_blobs(centers, n_per_class, generator):
    """Gaussian blobs with unit std around each center: x (N, 2) float32, y (N,) int64."""
    y = torch.arange(len(centers)).repeat_interleave(n_per_class)  # (N,)
    return torch.tensor(centers)[y] + torch.randn(len(y), 2, generator=generator), y


def build_net(num_classes):
    """A small MLP with dropout, so that net.eval() actually changes the forward pass."""
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, num_classes))


@torch.no_grad()  # no graph is built while testing
def evaluate(net, x, y):
    """Test on held-out data (N, 2), (N,): (mean loss, hits). Call net.eval() first: dropout off."""
    logits = net(x)  # (N, C)
    return F.cross_entropy(logits, y).item(), logits.argmax(dim=1).eq(y).sum().item()


def fit(net, optimizer, x, y, x_test, y_test, epochs, batch_size, eval_every, generator):
    """SGD on (x, y), tested every `eval_every` steps (on step: a finer curve, more tests) and
    after every epoch (on epoch: the usual choice). Returns ({step: (loss, hits)}, the same)."""
    on_step, on_epoch, step = {}, {}, 0
    for epoch in range(epochs):
        for idx in torch.randperm(len(x), generator=generator).split(batch_size):
            net.train()  # dropout on for the step
            loss = F.cross_entropy(net(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if step % eval_every == 0:
                net.eval()  # dropout off: the test scores the whole net
                on_step[step] = evaluate(net, x_test, y_test)
                print("step %3d: test loss %.4f, accuracy %d/%d"
                      % (step, *on_step[step], len(y_test)))
        net.eval()
        on_epoch[step] = evaluate(net, x_test, y_test)
        print_test(*on_epoch[step], len(x_test))  # the test set is one batch: no notes' figure
    return on_step, on_epoch


def print_test(test_loss, correct, n, batch_size=None):
    """The notes' line with the true mean loss; beside it their figure, the mean / batch size."""
    notes = "" if batch_size is None else f"  (the notes' figure: {test_loss / batch_size:.4f})"
    print(f"\nTest set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{n} "
          f"({100. * correct / n:.0f}%){notes}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description="测试: accuracy, and test on step vs on epoch")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS)
    parser.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=positive_float, default=LR)
    parser.add_argument("--eval-every", type=positive_int, default=EVAL_EVERY, help="in steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parse_flags(parser, argv)
    torch.manual_seed(args.seed)  # the notes' rand was unseeded: their printed labels are above
    show_predictions(torch.rand(4, 10))  # the notes' 4 samples, 10 classes
    show_notes_examples(NOTES_EXAMPLES)
    print("\n== test on step vs test on epoch (3 overlapping blobs, held-out test set) ==")
    generator = torch.Generator().manual_seed(args.seed)
    x, y = make_blobs(CENTERS, N_PER_CLASS, generator)
    x_test, y_test = make_blobs(CENTERS, N_PER_CLASS, generator)  # fresh draws: never trained on
    net = build_net(len(CENTERS))
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr)
    on_step, on_epoch = fit(net, optimizer, x, y, x_test, y_test, args.epochs, args.batch_size,
                            args.eval_every, generator)
    _, hits = on_epoch[max(on_epoch)]  # after the last epoch
    return {"test_acc": hits / len(x_test), "on_step": on_step, "on_epoch": on_epoch}


# ---- plumbing: identical in every script (tests/test_contract.py) ----
def parse_flags(parser, argv):
    for action in parser._actions:  # every default in --help
        action.help = action.help or "default: %(default)s"
    in_kernel = "ipykernel" in sys.modules and "kernel" in Path(sys.argv[0]).name  # not %run
    return parser.parse_args([] if argv is None and in_kernel else argv)  # a kernel: defaults

def positive_int(text, kind=int, what="integer"):
    try:  # --epochs abc: this line, where argparse would say "invalid positive_int value"
        if kind(text) > 0:
            return kind(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"must be a positive {what}, got {text}")

def positive_float(text):
    return positive_int(text, float, "number")


if __name__ == "__main__":
    main()
