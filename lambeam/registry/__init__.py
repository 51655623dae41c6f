"""The model registry: immutable, numbered model versions and audited, mutable aliases.

    version = register_model_version(db, store, model="churn", pipeline=fitted, …)
    set_alias(db, "churn", "prod", version.number)
    pipeline = get_model_version(db, store, "churn@prod").load()

A version holds its pipeline as skops (loaded only with its recorded trusted types), an ONNX graph
when one converts (trusted only once it agrees with scikit-learn on held-out rows), its signature,
metrics, params and lineage.
"""

from typing import TYPE_CHECKING

from lambeam._lazy import first_use
from lambeam.registry.aliases import alias_history, remove_alias, set_alias
from lambeam.registry.compare import compare_model_versions, metric_direction
from lambeam.registry.records import ModelSummary, ModelVersion
from lambeam.registry.refs import ModelRef, parse_model_ref
from lambeam.registry.signature import InputColumn, Signature
from lambeam.registry.versions import (
    get_model_version,
    list_model_versions,
    list_models,
    register_model_version,
)
from lambeam.storage.trusted import TRUSTED_MODULES

if TYPE_CHECKING:
    from lambeam.registry.onnx_export import ATOL, RTOL, compare_outputs
    from lambeam.registry.onnx_inputs import onnx_feed

__all__ = [
    "ATOL",
    "ONNX_STATUSES",
    "RTOL",
    "TRUSTED_MODULES",
    "InputColumn",
    "ModelRef",
    "ModelSummary",
    "ModelVersion",
    "Signature",
    "alias_history",
    "compare_model_versions",
    "compare_outputs",
    "get_model_version",
    "list_model_versions",
    "list_models",
    "metric_direction",
    "onnx_feed",
    "parse_model_ref",
    "register_model_version",
    "remove_alias",
    "set_alias",
]

ONNX_STATUSES = ("trusted", "disagrees", "unconvertible", "unchecked")

_ONNX_HOMES = {
    "ATOL": "onnx_export",
    "RTOL": "onnx_export",
    "compare_outputs": "onnx_export",
    "onnx_feed": "onnx_inputs",
}


# The ONNX export imports scikit-learn (about a second), the feed pandas: what only reads the
# registry, such as a CLI command or the gateway resolving a function's model, does not pay.
__getattr__ = first_use(__name__, _ONNX_HOMES)
