"""测试: argmax / eq / accuracy on the notes' own examples; test on step vs test on epoch."""
import contextlib
import io

import pytest
import torch

import accuracy
from conftest import lesson_namespace


@pytest.fixture(scope="module")
def run():
    """main() with its defaults, run once: (what it printed, what it returned)."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        result = accuracy.main([])
    return out.getvalue().splitlines(), result


def test_the_notes_printed_examples(run):
    lines = run[0]
    assert "pred = F.softmax(logits, dim=1), pred.shape: torch.Size([4, 10])" in lines  # 000
    at = lines.index("logits.max(dim=1): torch.return_types.max(")  # 004 prints it this way
    indices = lines[at + 2].removeprefix("indices=")[:-1]  # the same labels as argmax
    assert indices.startswith("tensor([")
    assert lines[at - 1].startswith(f"logits.argmax(dim=1): {indices} ")
    # 000: pred_label tensor([5, 3, 2, 2]) against [9, 3, 2, 4] prints these two lines
    at = lines.index("the notes' pred_label [5, 3, 2, 2], label [9, 3, 2, 4]")
    assert lines[at + 1:at + 3] == ["torch.eq(pred_label, label): tensor([False,  True,  True, "
                                    "False])", "accuracy: 0.5"]
    # 004: [8, 8, 6, 4] against [9, 0, 3, 4] -> correct [F, F, F, T], accuracy: 0.25
    at = lines.index("the notes' pred_label [8, 8, 6, 4], label [9, 0, 3, 4]")
    assert "False, False, False,  True" in lines[at + 1] and lines[at + 2] == "accuracy: 0.25"


def test_softmax_keeps_the_argmax():
    lesson = lesson_namespace("accuracy")  # the lesson part alone, as a learner copies it
    logits = torch.randn(10_000, 10, generator=torch.Generator().manual_seed(1))
    pred, pred_label, logits_label = lesson["predict_labels"](logits)
    by_hand = [max(range(10), key=row.__getitem__) for row in logits[:100].tolist()]
    assert pred_label[:100].tolist() == by_hand
    assert torch.equal(pred_label, logits_label)
    torch.testing.assert_close(pred.sum(dim=1), torch.ones(10_000))


def test_count_correct_by_hand():
    correct, acc = accuracy.count_correct(torch.tensor([1, 2, 3, 4, 5]),
                                          torch.tensor([1, 0, 3, 0, 0]))
    assert correct.tolist() == [True, False, True, False, False] and acc == 2 / 5


def test_step_tests_and_epoch_tests_agree_where_they_meet(run):
    on_step, on_epoch = run[1]["on_step"], run[1]["on_epoch"]
    steps_per_epoch = 3 * accuracy.N_PER_CLASS // accuracy.BATCH_SIZE  # 600 / 50 = 12
    assert list(on_step) == list(range(4, 5 * 12 + 1, 4))  # every 4th step of 60
    assert list(on_epoch) == [12, 24, 36, 48, 60] and steps_per_epoch == 12
    for step, result in on_epoch.items():
        # Same weights, dropout off under eval(): the two tests give the same numbers.
        assert on_step[step] == result


def test_eval_mode_makes_testing_deterministic():
    torch.manual_seed(0)
    net = accuracy.build_net(3)
    x, y = torch.randn(500, 2), torch.randint(0, 3, (500,))
    assert accuracy.evaluate(net, x, y) == accuracy.evaluate(net, x, y)
    assert net.training  # evaluate() puts the net back into training mode
    with torch.no_grad():  # in train() mode dropout draws a new mask every call
        assert not torch.equal(net(x), net(x))


def test_toy_problem_accuracy(run):
    # Held-out accuracy over seeds 0-9: 0.907-0.942 (600 points; seed 0: 559/600). The blobs
    # overlap: the Bayes classifier (nearest center) scores 0.926 (Monte Carlo, 3M points), so
    # 98% would mean a leak.
    result = run[1]
    assert 0.85 <= result["test_acc"] <= 0.98
    assert result["on_epoch"][60][0] < result["on_step"][4][0]  # the test loss went down
    assert sum(s.startswith("Test set: Average loss: ") for s in run[0]) == 5  # once an epoch
