"""Training: fit an estimator on a dataset version, score it, register it."""

from lambeam.training.estimators import build_estimator, infer_task
from lambeam.training.spec import SearchSpec, TrainSpec, parse_train_spec
from lambeam.training.tasks import TASKS, Task
from lambeam.training.train import TrainingRun, run_training, train

__all__ = [
    "TASKS",
    "SearchSpec",
    "Task",
    "TrainSpec",
    "TrainingRun",
    "build_estimator",
    "infer_task",
    "parse_train_spec",
    "run_training",
    "train",
]
