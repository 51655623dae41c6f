"""Functions: Lambda's model of deployment, for registry models and user code.

    config = FunctionConfig(kind="code", handler="app.handler", timeout_s=10)
    create_function(db, store, "hello", config, code=CodeBundle.from_directory("hello/"))
    publish_version(db, store, "hello")                    # version 1, immutable
    create_alias(db, "hello", "prod", "1")
    resolve(db, "hello", "prod")                           # what an invocation runs

A function has a mutable `$LATEST` (with a RevisionId that changes on every update), immutable
numbered versions, and aliases that point at a version and may send a weight of traffic to a
second one. A model function serves `churn@prod` on `$LATEST` and pins `churn:7` in a version.
Code is kept as deterministic zips in the artifact store; requirements.txt is installed at deploy
time for that function alone. `apply` makes lambeam.toml's `[functions.NAME]` tables true.
"""

from lambeam.functions.aliases import (
    create_alias,
    delete_alias,
    get_alias,
    list_aliases,
    update_alias,
)
from lambeam.functions.apply import ApplyResult, Declaration, apply, declared_function
from lambeam.functions.bundles import (
    MAX_UNZIPPED_BYTES,
    MAX_ZIPPED_BYTES,
    CodeBundle,
    b64_sha256,
    materialize,
)
from lambeam.functions.config import (
    LATEST,
    Batching,
    FunctionConfig,
    check_alias_name,
    check_function_name,
)
from lambeam.functions.definitions import (
    create_function,
    delete_function,
    delete_function_concurrency,
    get_function,
    list_functions,
    put_function_concurrency,
    remove_function_files,
    update_function_code,
    update_function_configuration,
)
from lambeam.functions.errors import (
    CodeBundleError,
    FunctionConflictError,
    FunctionNotFoundError,
    PreconditionFailedError,
)
from lambeam.functions.records import AliasInfo, FunctionInfo, ResolvedFunction
from lambeam.functions.resolve import RESOLVE_TTL_S, Resolver, resolve
from lambeam.functions.versions import list_versions, publish_version

__all__ = [
    "LATEST",
    "MAX_UNZIPPED_BYTES",
    "MAX_ZIPPED_BYTES",
    "RESOLVE_TTL_S",
    "AliasInfo",
    "ApplyResult",
    "Batching",
    "CodeBundle",
    "CodeBundleError",
    "Declaration",
    "FunctionConfig",
    "FunctionConflictError",
    "FunctionInfo",
    "FunctionNotFoundError",
    "PreconditionFailedError",
    "ResolvedFunction",
    "Resolver",
    "apply",
    "b64_sha256",
    "check_alias_name",
    "check_function_name",
    "create_alias",
    "create_function",
    "declared_function",
    "delete_alias",
    "delete_function",
    "delete_function_concurrency",
    "get_alias",
    "get_function",
    "list_aliases",
    "list_functions",
    "list_versions",
    "materialize",
    "publish_version",
    "put_function_concurrency",
    "remove_function_files",
    "resolve",
    "update_alias",
    "update_function_code",
    "update_function_configuration",
]
