"""What every task kind does: recognise its estimators, score them, describe their outputs."""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["Task"]


class Task:
    """One kind of estimator (classification, regression, …), as one small class.

    A new kind is a new subclass listed in `lambeam.training.tasks.TASKS`; the training run
    asks it whether it claims an estimator, whether it needs a label, how a search scores it
    by default, what to measure on the test split and what a served model answers.
    """

    name: ClassVar[str]
    # Whether fitting needs the dataset version's label (and scoring its test labels).
    supervised: ClassVar[bool] = False
    # A scikit-learn scorer name for a search that does not set `scoring`; None: it must.
    default_scoring: ClassVar[str | None] = None
    # Every metric `scores` may give: models compare ranks each by the registry's
    # metric_direction, and a test holds the two together.
    metrics: ClassVar[tuple[str, ...]] = ()

    def claims(self, estimator: Any) -> bool:
        """Whether `estimator` does this task."""
        raise NotImplementedError

    def label_problem(self, y: Any) -> str | None:
        """Why the training split's labels cannot train this task (said after the split's
        name), or None when they can."""
        return None

    def scores(self, estimator: Any, X: Any, y: Any) -> dict[str, Any]:
        """The task's metrics of a fitted `estimator` on (X, y), at least one row."""
        raise NotImplementedError

    def outputs(self, estimator: Any) -> dict[str, Any]:
        """What the model's signature says a served prediction holds, besides the task."""
        return {}
