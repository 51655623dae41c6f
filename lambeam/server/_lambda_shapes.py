"""Lambda's response shapes (FunctionConfiguration, AliasConfiguration) and request fields."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from lambeam.errors import ConfigError, StorageError
from lambeam.functions import LATEST, AliasInfo, CodeBundle, FunctionConfig, FunctionInfo
from lambeam.runtime import function_arn
from lambeam.storage import ArtifactStore

__all__ = [
    "RUNTIME",
    "alias_configuration",
    "code_from_zip_field",
    "config_with",
    "function_configuration",
    "page",
    "routing_from",
]

RUNTIME = "python3.11"  # what a Lambda client expects to see; instances run lambeam's Python
# A listing without MaxItems returns at most this many (as Lambda's ListFunctions does) and a
# NextMarker for the rest; MaxItems may ask for up to 10,000.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 10_000
_MAX_MARKER = 1024  # a marker holds one function's name (at most 64) and a version number
Item = TypeVar("Item")
_CONFIG_FIELDS = {
    "Handler": "handler",
    "Description": "description",
    "Timeout": "timeout_s",
    "MemorySize": "memory_mb",
}


def function_configuration(
    info: FunctionInfo, store: ArtifactStore, region: str, account_id: str
) -> dict[str, Any]:
    """Lambda's FunctionConfiguration for one version of a function, in the engine's region and
    account (its ARN and role)."""
    config = info.config
    qualifier = None if info.version == LATEST else info.version
    shape: dict[str, Any] = {
        "FunctionName": info.name,
        "FunctionArn": function_arn(info.name, region, account_id, qualifier),
        "Runtime": RUNTIME,
        "Role": f"arn:aws:iam::{account_id}:role/lambeam",
        "Handler": config.handler or "",
        "CodeSize": _code_size(store, info.code_sha256),
        "CodeSha256": info.code_sha256_b64 or "",
        "Description": info.description,
        "Timeout": config.timeout_s,
        "MemorySize": config.memory_mb,
        "LastModified": info.updated_at.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "Version": info.version,
        "Environment": {"Variables": dict(config.environment)},
        "RevisionId": info.revision_id or str(uuid.uuid5(uuid.NAMESPACE_URL, _arn_key(info))),
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
    }
    if config.dead_letter_target is not None:
        shape["DeadLetterConfig"] = {"TargetArn": config.dead_letter_target}
    return shape


def alias_configuration(alias: AliasInfo, region: str, account_id: str) -> dict[str, Any]:
    """Lambda's AliasConfiguration, in the engine's region and account."""
    shape: dict[str, Any] = {
        "AliasArn": function_arn(alias.function, region, account_id, alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.routing:
        weights = {str(alias.routing["additional_version"]): float(alias.routing["weight"])}
        shape["RoutingConfig"] = {"AdditionalVersionWeights": weights}
    return shape


def routing_from(value: object) -> dict[str, Any] | None:
    """Lambda's RoutingConfig as lambeam's routing: None when absent, {} to clear it."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError("RoutingConfig must be an object with AdditionalVersionWeights")
    weights = value.get("AdditionalVersionWeights") or {}
    if not isinstance(weights, Mapping) or len(weights) > 1:
        raise ConfigError("RoutingConfig.AdditionalVersionWeights takes at most one version")
    if not weights:
        return {}
    ((version, weight),) = weights.items()
    return {"additional_version": version, "weight": weight}


def code_from_zip_field(value: object, field: str = "ZipFile") -> CodeBundle:
    """A bundle from a base64 zip (Lambda's `Code.ZipFile`, as botocore sends it)."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{field} must be the function's zip, base64-encoded")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{field} is not valid base64") from None
    return CodeBundle.from_zip(data)


def config_with(base: FunctionConfig, body: Mapping[str, Any]) -> FunctionConfig:
    """`base` with Lambda's configuration fields from `body` applied (Handler, Timeout, …)."""
    changes: dict[str, Any] = {
        field: body[name] for name, field in _CONFIG_FIELDS.items() if name in body
    }
    if "Environment" in body:
        environment = body["Environment"]
        if not isinstance(environment, Mapping):
            raise ConfigError("Environment must be an object with Variables")
        changes["environment"] = environment.get("Variables") or {}
    if "DeadLetterConfig" in body:  # {"TargetArn": ""} clears it, as in Lambda
        dead_letter = body["DeadLetterConfig"]
        if not isinstance(dead_letter, Mapping):
            raise ConfigError("DeadLetterConfig must be an object with TargetArn")
        changes["dead_letter_target"] = dead_letter.get("TargetArn") or None
    data = {**base.to_dict(), **changes}
    data.pop("requirements_sha256", None)
    return replace(FunctionConfig.from_dict(data), requirements_sha256=base.requirements_sha256)


def _code_size(store: ArtifactStore, digest: str | None) -> int:
    if digest is None:
        return 0
    try:
        return store.size(digest)  # the code's own size, also when it is stored sealed
    except (OSError, ValueError, StorageError):
        return 0


def _arn_key(info: FunctionInfo) -> str:
    return f"{info.name}:{info.version}:{info.created_at.isoformat()}"


def page(
    items: Sequence[Item],
    key: Callable[[Item], Any],
    marker: str | None,
    max_items: str | None,
) -> tuple[list[Item], str | None]:
    """One page of a listing, as Lambda pages them: the items after `marker` (a NextMarker an
    earlier page gave), at most `max_items`, and the NextMarker of the rest (None on the last).

    The marker holds the last item's `key` (a JSON value that orders the listing), so a page
    starts where the last one stopped even when items were added or removed in between.
    """
    size = _max_items(max_items)
    ordered = sorted(items, key=key)
    if marker is not None:
        after = _marker_key(marker)
        try:
            ordered = [item for item in ordered if _comparable(key(item)) > after]
        except TypeError:  # a marker of another listing
            raise ConfigError(f"Marker {_shown(marker)!r} is not one this listing gave") from None
    chosen = ordered[:size]
    if len(ordered) <= size:
        return chosen, None
    last = json.dumps(key(chosen[-1]), separators=(",", ":")).encode()
    return chosen, base64.urlsafe_b64encode(last).decode("ascii")


def _max_items(value: str | None) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(value)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ConfigError(f"MaxItems must be an integer from 1 to {MAX_PAGE_SIZE}, not {value!r}")
    return size


def _marker_key(marker: str) -> Any:
    """The listing key a NextMarker holds: a name, or a [name, version number] pair."""
    refused = ConfigError(f"Marker {_shown(marker)!r} is not one this server gave")
    if len(marker) > _MAX_MARKER:
        raise refused
    try:
        key = json.loads(base64.urlsafe_b64decode(marker.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise refused from None
    pair = (
        isinstance(key, list) and len(key) == 2 and isinstance(key[0], str) and type(key[1]) is int
    )
    if not (isinstance(key, str) or pair):
        raise refused
    return _comparable(key)


def _shown(marker: str) -> str:
    return marker if len(marker) <= 40 else marker[:39] + "…"


def _comparable(value: Any) -> Any:
    # JSON gives lists where the key was a tuple.
    return tuple(value) if isinstance(value, list) else value
