"""Training jobs as declared in lambeam.toml under [train.NAME]."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sklearn.metrics import get_scorer_names

from lambeam.errors import ConfigError

__all__ = ["SearchSpec", "TrainSpec", "parse_train_spec"]

_KEYS = {"dataset", "estimator", "params", "model", "search", "description", "trusted"}
_SEARCH_KEYS = {"method", "params", "cv", "n_iter", "scoring", "random_state", "n_jobs"}


@dataclass(frozen=True)
class SearchSpec:
    """A hyperparameter search: grid or random over `params`, scored by cross-validation."""

    method: str
    params: Mapping[str, Any]
    cv: int = 5
    n_iter: int = 10
    scoring: str | None = None
    random_state: int = 0
    n_jobs: int = -1


@dataclass(frozen=True)
class TrainSpec:
    """One training job: which dataset, which estimator with which params, which model name."""

    name: str
    dataset: str
    estimator: str
    params: Mapping[str, Any] = field(default_factory=dict)
    model: str = ""
    search: SearchSpec | None = None
    description: str = ""
    trusted: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """The table it is declared in, as errors name it: `lambeam.toml [train.NAME]`."""
        return _table(self.name)

    @property
    def spec_hash(self) -> str:
        """sha256 of the declaration as written, canonicalised."""
        text = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def _table(name: str) -> str:
    """Where training job `name` is declared, as every error about it says."""
    return f"lambeam.toml [train.{name}]"


def parse_train_spec(name: str, raw: Mapping[str, Any]) -> TrainSpec:
    """Validate [train.NAME]; every error names the key that is wrong."""
    where = _table(name)
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; expected {', '.join(sorted(_KEYS))}"
        )
    for key in ("dataset", "estimator"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ConfigError(f"{where}: `{key}` is required and must be a non-empty string")
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: `params` must be a table of estimator parameters")
    model = raw.get("model", name)
    if not isinstance(model, str) or not model:
        raise ConfigError(f"{where}: `model` must be a non-empty string")
    search = _parse_search(where, raw["search"]) if "search" in raw else None
    trusted = raw.get("trusted", [])
    if not isinstance(trusted, list) or not all(isinstance(t, str) and t for t in trusted):
        raise ConfigError(
            f'{where}: `trusted` must be a list of type names (e.g. "mypackage.models.MyModel")'
        )
    return TrainSpec(
        name=name,
        dataset=raw["dataset"].strip(),
        estimator=raw["estimator"].strip(),
        params=dict(params),
        model=model,
        search=search,
        description=str(raw.get("description", "")),
        trusted=tuple(trusted),
        raw=dict(raw),
    )


def _parse_search(where: str, raw: Any) -> SearchSpec:
    where = f"{where} search"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table")
    unknown = sorted(set(raw) - _SEARCH_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; expected {', '.join(sorted(_SEARCH_KEYS))}"
        )
    method = raw.get("method", "grid")
    if method not in ("grid", "random"):
        raise ConfigError(f"{where}: method must be 'grid' or 'random', not {method!r}")
    params = raw.get("params")
    if not isinstance(params, dict) or not params:
        raise ConfigError(f"{where}: `params` must be a table of lists of values to try")
    for key, values in params.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: params.{key} must be a non-empty list of values")
    ints = {"cv": raw.get("cv", 5), "n_iter": raw.get("n_iter", 10)}
    for key, value in ints.items():
        if not isinstance(value, int) or value < (2 if key == "cv" else 1):
            raise ConfigError(
                f"{where}: `{key}` must be an integer of at least {2 if key == 'cv' else 1}"
            )
    scoring = raw.get("scoring")
    if scoring is not None and (not isinstance(scoring, str) or scoring not in get_scorer_names()):
        raise ConfigError(
            f"{where}: `scoring` {scoring!r} is not a scikit-learn scorer name (e.g. accuracy, "
            "f1_macro, roc_auc, r2, neg_root_mean_squared_error)"
        )
    for key in ("random_state", "n_jobs"):
        if key in raw and (not isinstance(raw[key], int) or isinstance(raw[key], bool)):
            raise ConfigError(f"{where}: `{key}` must be an integer")
    return SearchSpec(
        method=method,
        params={k: _nulls(v) for k, v in params.items()},
        cv=ints["cv"],
        n_iter=ints["n_iter"],
        scoring=scoring,
        random_state=int(raw.get("random_state", 0)),
        n_jobs=int(raw.get("n_jobs", -1)),
    )


def _nulls(values: list[Any]) -> list[Any]:
    # TOML has no null; the string "none" stands for Python's None (e.g. max_depth = [3, "none"]).
    return [None if isinstance(v, str) and v.lower() == "none" else v for v in values]
