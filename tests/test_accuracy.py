"""测试: argmax / eq / accuracy as in the notes; test on step vs test on epoch on a toy problem."""
import math

import pytest
import torch

import accuracy


@pytest.fixture(scope="module")
def result():
    return accuracy.main([])


def test_softmax_keeps_the_argmax(result):
    """softmax is monotone in each row, so its argmax is the logits' argmax (checked by hand)."""
    by_hand = [max(range(accuracy.NUM_CLASSES), key=row.__getitem__)
               for row in result["logits"].tolist()]
    assert result["pred_label"].tolist() == by_hand
    assert torch.equal(result["pred_label"], result["logits_label"])
    assert result["pred"].shape == (4, 10)
    torch.testing.assert_close(result["pred"].sum(dim=1), torch.ones(4))


def test_softmax_argmax_on_many_rows():
    logits = torch.randn(10_000, 10, generator=torch.Generator().manual_seed(1))
    _, pred_label, logits_label = accuracy.predict_labels(logits)
    assert torch.equal(pred_label, logits_label)


def test_the_notes_printed_examples():
    # 000_...txt: pred_label tensor([5, 3, 2, 2]), label [9, 3, 2, 4]
    # -> tensor([False,  True,  True, False]) and 0.5
    correct, acc = accuracy.count_correct(torch.tensor([5, 3, 2, 2]), torch.tensor([9, 3, 2, 4]))
    assert correct.tolist() == [False, True, True, False] and acc == 0.5
    # 004_...txt: tensor([8, 8, 6, 4]) against [9, 0, 3, 4] -> correct [F, F, F, T], accuracy 0.25
    correct, acc = accuracy.count_correct(torch.tensor([8, 8, 6, 4]), torch.tensor([9, 0, 3, 4]))
    assert correct.tolist() == [False, False, False, True] and acc == 0.25


def test_accuracy_is_the_fraction_of_hits(result):
    hits = sum(p == t for p, t in zip(result["pred_label"].tolist(), accuracy.LABELS))
    assert result["correct"].tolist() == [p == t for p, t in
                                          zip(result["pred_label"].tolist(), accuracy.LABELS)]
    assert result["accuracy"] == hits / 4


def test_step_tests_and_epoch_tests_agree_where_they_meet(result):
    steps_per_epoch = math.ceil(result["n_train"] / accuracy.BATCH_SIZE)
    assert steps_per_epoch % accuracy.EVAL_EVERY == 0  # so a step test falls on each epoch end
    steps = [s for s, _, _ in result["on_step"]]
    assert steps == list(range(accuracy.EVAL_EVERY, accuracy.EPOCHS * steps_per_epoch + 1,
                               accuracy.EVAL_EVERY))
    assert len(result["on_epoch"]) == accuracy.EPOCHS
    by_step = {s: (loss, correct) for s, loss, correct in result["on_step"]}
    for epoch, step, loss, correct in result["on_epoch"]:
        assert step == (epoch + 1) * steps_per_epoch
        # Same weights, dropout off under eval(): the two tests must give the same numbers.
        assert by_step[step] == (loss, correct)


def test_eval_mode_makes_testing_deterministic():
    torch.manual_seed(0)
    net = accuracy.build_net(3)
    x, y = torch.randn(500, 2), torch.randint(0, 3, (500,))
    assert accuracy.evaluate(net, x, y) == accuracy.evaluate(net, x, y)
    assert net.training  # evaluate() puts the net back into training mode
    with torch.no_grad():  # in train() mode dropout draws a new mask every call
        assert not torch.equal(net(x), net(x))


def test_toy_problem_accuracy(result):
    # Held-out accuracy over seeds 0-9: 0.907-0.942 (600 points). The blobs overlap: the Bayes
    # classifier (nearest center) scores 0.926 (Monte Carlo, 3M points), so 98% means a leak.
    assert 0.85 <= result["test_acc"] <= 0.98
    assert result["on_epoch"][-1][2] < result["on_step"][0][1]  # the test loss went down
