"""Hyperparameter search: grid or random candidates, cross-validated in parallel over the cores."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone, is_classifier
from sklearn.model_selection import ParameterGrid, ParameterSampler, check_cv, cross_val_score

from lambeam.errors import TrainingError
from lambeam.progress import Reporter
from lambeam.storage.jsonable import jsonable
from lambeam.training.fit_warnings import WarningText, gathering
from lambeam.training.spec import SearchSpec
from lambeam.training.tasks import Task

__all__ = ["Candidate", "SearchResult", "run_search"]


@dataclass(frozen=True)
class Candidate:
    """One parameter setting and its cross-validated score."""

    params: dict[str, Any]
    mean_score: float
    std_score: float
    fold_scores: list[float]
    seconds: float
    warnings: tuple[WarningText, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "mean_score": self.mean_score,
            "std_score": self.std_score,
            "fold_scores": self.fold_scores,
            "seconds": round(self.seconds, 3),
            "warnings": [f"{category}: {message}" for category, message in self.warnings],
        }


@dataclass(frozen=True)
class SearchResult:
    """Every candidate tried, and the best one (highest mean score)."""

    method: str
    scoring: str
    cv: int
    candidates: list[Candidate]

    @property
    def best(self) -> Candidate:
        return max(self.candidates, key=lambda c: (c.mean_score, -self.candidates.index(c)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "scoring": self.scoring,
            "cv": self.cv,
            "best_params": self.best.params,
            "best_score": self.best.mean_score,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def run_search(
    estimator: Any, spec: SearchSpec, X: Any, y: Any, task: Task, reporter: Reporter
) -> SearchResult:
    """Score every candidate of `spec` by cross-validation on (X, y), several at once."""
    valid = estimator.get_params(deep=True)
    unknown = sorted(set(spec.params) - set(valid))
    if unknown:
        raise TrainingError(f"search params: the estimator has no parameter {unknown[0]!r}")
    if spec.method == "grid":
        candidates = list(ParameterGrid(dict(spec.params)))
    else:
        candidates = list(
            ParameterSampler(dict(spec.params), n_iter=spec.n_iter, random_state=spec.random_state)
        )
    scoring = spec.scoring or task.default_scoring
    if scoring is None:
        raise TrainingError(
            f"a search over a {task.name} estimator needs `scoring` set in its search table"
        )
    cv = check_cv(spec.cv, y, classifier=is_classifier(estimator))
    jobs = Parallel(n_jobs=spec.n_jobs, return_as="generator")(
        delayed(_evaluate)(estimator, params, X, y, cv, scoring) for params in candidates
    )
    results: list[Candidate] = []
    with reporter.stage(
        f"search: {len(candidates)} candidates x {spec.cv} folds", total=len(candidates)
    ) as stage:
        for candidate in jobs:
            results.append(candidate)
            stage.advance()
    return SearchResult(method=spec.method, scoring=scoring, cv=spec.cv, candidates=results)


def _evaluate(
    estimator: Any, params: dict[str, Any], X: Any, y: Any, cv: Any, scoring: str
) -> Candidate:
    started = time.perf_counter()
    model = clone(estimator).set_params(**params)
    # Gathered here, in the worker process: its warnings would otherwise go straight to stderr.
    with gathering() as warned:
        try:
            # Each candidate is one job; its folds run serially to avoid oversubscription.
            scores = cross_val_score(
                model, X, y, cv=cv, scoring=scoring, n_jobs=1, error_score="raise"
            )
        except ValueError as exc:
            raise TrainingError(f"search candidate {params}: {exc}") from None
    return Candidate(
        params={k: jsonable(v) for k, v in params.items()},
        mean_score=float(np.mean(scores)),
        std_score=float(np.std(scores)),
        fold_scores=[float(s) for s in scores],
        seconds=time.perf_counter() - started,
        warnings=tuple(warned),
    )
