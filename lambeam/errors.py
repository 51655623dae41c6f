"""Every error a lambeam user can catch.

LambeamError
├── ConfigError (ValueError)            lambeam.toml or a LAMBEAM_* setting is wrong
│   └── ProjectNotFoundError            no lambeam.toml here or above
├── NotFoundError (LookupError)         a named thing does not exist
│   ├── DatasetNotFoundError
│   ├── ModelNotFoundError
│   └── AliasNotFoundError
├── DataError (ValueError)              the input data cannot be used as declared
│   ├── SourceNotFoundError             a source path or glob matches no file
│   ├── ColumnError                     an unknown, missing or mistyped column
│   └── EmptyDatasetError               no rows left to write
├── PipelineError                       a pipeline step failed while running
├── TrainingError (ValueError)          an estimator, its params or a search is unusable
├── StorageError                        the metadata database or the artifact store failed
│   └── ArtifactIntegrityError          an artifact's bytes do not match its sha256
└── UntrustedModelError                 a stored model holds types outside the trusted set

Each error carries what the user needs to fix it in its message, plus machine-readable fields:
`exit_code` for the CLI and `http_status` for the HTTP faces.
"""

from __future__ import annotations

__all__ = [
    "AliasNotFoundError",
    "ArtifactIntegrityError",
    "ColumnError",
    "ConfigError",
    "DataError",
    "DatasetNotFoundError",
    "EmptyDatasetError",
    "LambeamError",
    "ModelNotFoundError",
    "NotFoundError",
    "PipelineError",
    "ProjectNotFoundError",
    "SourceNotFoundError",
    "StorageError",
    "TrainingError",
    "UntrustedModelError",
]


class LambeamError(Exception):
    """Root of lambeam's errors; its message is meant to be shown to the user as is."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(LambeamError, ValueError):
    """lambeam.toml is malformed or a setting has an unusable value."""

    exit_code = 2
    http_status = 400


class ProjectNotFoundError(ConfigError):
    """No lambeam.toml in the working directory or any parent."""


class NotFoundError(LambeamError, LookupError):
    """A named dataset, model, version or alias does not exist."""

    http_status = 404


class DatasetNotFoundError(NotFoundError):
    """No such pipeline output or dataset version."""


class ModelNotFoundError(NotFoundError):
    """No such model or model version."""


class AliasNotFoundError(NotFoundError):
    """No such alias on a model."""


class DataError(LambeamError, ValueError):
    """The input data cannot be used the way the pipeline declares."""

    http_status = 400


class SourceNotFoundError(DataError):
    """A source path or glob matched no file."""


class ColumnError(DataError):
    """A column is unknown, missing, or of the wrong type for its operation."""


class EmptyDatasetError(DataError):
    """The pipeline would write a dataset version with no rows."""


class PipelineError(LambeamError):
    """A pipeline failed while running on Beam."""


class TrainingError(LambeamError, ValueError):
    """An estimator cannot be imported or fitted, or a search is malformed."""

    http_status = 400


class StorageError(LambeamError):
    """The metadata database or the artifact store could not do what was asked."""


class ArtifactIntegrityError(StorageError):
    """An artifact's content does not hash to the digest it is stored under."""


class UntrustedModelError(LambeamError):
    """A stored model contains types that are not in the trusted set; it is not loaded."""

    http_status = 422
