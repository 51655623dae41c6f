"""The REST API's OpenAPI 3.1 document, built from the route table so that it stays true."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from lambeam.runtime import MAX_MEMORY_MB, MAX_TIMEOUT_S, MIN_MEMORY_MB, MIN_TIMEOUT_S

__all__ = ["openapi_document"]

_PARAM = re.compile(r"\{([a-z_]+)\}")
_ERROR = {"$ref": "#/components/schemas/Error"}
_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("/v1/functions", "POST"): {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "code": {"type": "string", "description": "the function's zip, base64"},
            "model": {"type": "string", "description": "a model reference: churn@prod, churn:7"},
            "config": {"$ref": "#/components/schemas/FunctionConfig"},
        },
    },
    ("/v1/functions/{name}", "PATCH"): {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "model": {"type": "string"},
            "config": {"$ref": "#/components/schemas/FunctionConfig"},
            "revision_id": {"type": "string"},
        },
    },
    ("/v1/functions/{name}/versions", "POST"): {
        "type": "object",
        "properties": {"description": {"type": "string"}, "revision_id": {"type": "string"}},
    },
    ("/v1/functions/{name}/aliases", "POST"): {
        "type": "object",
        "required": ["name", "version"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "routing": {"$ref": "#/components/schemas/Routing"},
            "description": {"type": "string"},
        },
    },
    ("/v1/functions/{name}/aliases/{alias}", "PATCH"): {
        "type": "object",
        "properties": {
            "version": {"type": "string"},
            "routing": {"anyOf": [{"$ref": "#/components/schemas/Routing"}, {"type": "null"}]},
            "description": {"type": "string"},
            "revision_id": {"type": "string"},
        },
    },
    ("/v1/functions/{name}/invoke", "POST"): {
        "description": (
            "The event (any JSON) for a code function; for a model function"
            ' {"instances": [{column: value}, …]} or {"inputs": {column: [values]}},'
            ' optionally with "probabilities": true'
        ),
    },
}
_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {
                    "type": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                },
            }
        },
    },
    "FunctionConfig": {
        "type": "object",
        "properties": {
            "handler": {"type": "string"},
            "memory_mb": {
                "type": "integer",
                "minimum": MIN_MEMORY_MB,
                "maximum": MAX_MEMORY_MB,
            },
            "timeout_s": {
                "type": "integer",
                "minimum": MIN_TIMEOUT_S,
                "maximum": MAX_TIMEOUT_S,
            },
            "reserved_concurrency": {"type": ["integer", "null"], "minimum": 0},
            "warm_minimum": {"type": "integer", "minimum": 0},
            "batching": {
                "type": "object",
                "properties": {
                    "max_batch_size": {"type": "integer"},
                    "max_wait_ms": {"type": "integer"},
                },
            },
            "environment": {"type": "object", "additionalProperties": {"type": "string"}},
            "description": {"type": "string"},
        },
    },
    "Routing": {
        "type": "object",
        "required": ["additional_version", "weight"],
        "properties": {
            "additional_version": {"type": "string"},
            "weight": {"type": "number", "minimum": 0, "maximum": 1},
        },
    },
}


def openapi_document(routes: Iterable[tuple[str, str, str, bool]]) -> dict[str, Any]:
    """OpenAPI 3.1 for routes given as (path, method, summary, needs auth)."""
    paths: dict[str, dict[str, Any]] = {}
    for path, method, summary, auth in routes:
        operation: dict[str, Any] = {
            "summary": summary,
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _PARAM.findall(path)
            ],
            "responses": {
                "2XX": {"description": "success", "content": {"application/json": {}}},
                "default": {
                    "description": "an error",
                    "content": {"application/json": {"schema": _ERROR}},
                },
            },
        }
        if "qualifier" in summary:
            operation["parameters"].append(
                {"name": "qualifier", "in": "query", "schema": {"type": "string"}}
            )
        if not auth:
            operation["security"] = []
        body = _BODIES.get((path, method))
        if body is not None:
            operation["requestBody"] = {"content": {"application/json": {"schema": body}}}
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "lambeam", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "<access key id>:<secret>, as `lambeam init` writes them",
                }
            },
        },
        "security": [{"bearer": []}],
    }
