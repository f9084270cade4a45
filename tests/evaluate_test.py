"""Linear evaluation: a linear classifier on frozen embeddings (paper §3.2 item 4)."""
import numpy as np
import pytest

from clar_tf import evaluate


def _blobs(n_per_class, centers, seed, scale=0.3):
    rng = np.random.RandomState(seed)
    x = np.concatenate([c + scale * rng.randn(n_per_class, len(c)) for c in centers])
    y = np.repeat(np.arange(len(centers)), n_per_class)
    return x.astype("float32"), y.astype("int64")


def test_separable_classes_are_learned_and_counted():
    centers = np.eye(4, 8) * 3.0
    train, test = _blobs(30, centers, 0), _blobs(10, centers, 1)
    result = evaluate.linear_eval(train, test, 4, epochs=5, batch_size=32)
    assert result["top1"] == 1.0
    np.testing.assert_array_equal(result["confusion_matrix"], np.diag([10] * 4))
    assert result["per_class_accuracy"] == [1.0] * 4


def test_confusion_matrix_and_per_class_match_numpy_on_overlapping_classes():
    centers = np.array([[0.0, 0.0], [0.6, 0.0], [0.0, 5.0]])
    train, test = _blobs(60, centers, 2, scale=0.5), _blobs(40, centers, 3, scale=0.5)
    result = evaluate.linear_eval(train, test, 3, epochs=5, batch_size=32)
    confusion = np.array(result["confusion_matrix"])
    assert confusion.sum() == 120 and list(confusion.sum(axis=1)) == [40, 40, 40]
    np.testing.assert_allclose(result["top1"], np.trace(confusion) / 120)
    np.testing.assert_allclose(result["per_class_accuracy"], np.diag(confusion) / 40)
    assert confusion[2, 2] == 40  # the far class is separable
    assert 0.5 < result["top1"] < 1.0  # the two close ones are not


def test_absent_test_class_gives_none_and_unlabeled_training_data_is_refused():
    centers = np.eye(3, 4) * 3.0
    train = _blobs(20, centers, 0)
    x_test, y_test = _blobs(5, centers[:2], 1)
    result = evaluate.linear_eval(train, (x_test, y_test), 3, epochs=2)
    assert result["per_class_accuracy"][2] is None
    x, y = train
    with pytest.raises(ValueError, match="labeled"):
        evaluate.linear_eval((x, np.where(y == 0, -1, y)), (x_test, y_test), 3)
