"""Every error a lambeam user can catch.

LambeamError
├── ConfigError (ValueError)            lambeam.toml or a LAMBEAM_* setting is wrong
│   ├── ProjectNotFoundError            no lambeam.toml here or above
│   ├── MasterKeyError                  the master key is missing, malformed or readable by others
│   ├── ValidationError                 a parameter outside the range an AWS API allows (400)
│   ├── CodeBundleError                 a code bundle is unusable or its requirements fail (400)
│   ├── QueueAttributeError             an SQS queue attribute SQS would refuse (names it)
│   │   └── QueueNameError              a queue name SQS would refuse (InvalidParameterValue)
│   └── ScheduleExpressionError         a cron, rate or at expression or time zone (names the field)
├── NotFoundError (LookupError)         a named thing does not exist (404)
│   ├── DatasetNotFoundError
│   ├── ModelNotFoundError
│   ├── AliasNotFoundError
│   ├── FunctionNotFoundError           no such function, version or function alias
│   ├── EventInvokeConfigNotFoundError  a function (or qualifier) without an async config
│   ├── InvocationNotFoundError         no asynchronous invocation has that request id
│   ├── EventSourceMappingNotFoundError no event source mapping has that UUID
│   ├── AccessKeyNotFoundError
│   ├── QueueNotFoundError              no such queue (SQS's QueueDoesNotExist)
│   ├── TopicNotFoundError              no such topic (SNS's NotFound)
│   ├── SubscriptionNotFoundError       no such topic subscription
│   ├── ObjectTriggerNotFoundError      no such object-created trigger
│   └── ScheduleNotFoundError           no such schedule
├── DataError (ValueError)              the input data cannot be used as declared (400)
│   ├── SourceNotFoundError             a source path or glob matches no file
│   ├── ColumnError                     an unknown, missing or mistyped column
│   ├── EmptyDatasetError               no rows left to write
│   ├── InvalidInputError               a predict request does not fit the model's signature
│   ├── PayloadTooLargeError            a request body over Lambda's 6 MB (413)
│   ├── MessageError                    an SQS message SQS would refuse (too long, bad attribute)
│   └── ReceiptHandleError              a receipt handle that is not one lambeam gave out
├── PipelineError                       a pipeline step failed while running
├── TrainingError (ValueError)          an estimator, its params or a search is unusable
├── StorageError                        the metadata database or the artifact store failed
│   ├── ArtifactIntegrityError          an artifact's bytes do not match its sha256
│   └── SealError                       a sealed value does not open (another key, or changed)
├── UntrustedModelError                 a stored model holds types outside the trusted set
├── FunctionConflictError               a duplicate function, or a version an alias uses (409)
├── QueueExistsError                    a queue of that name exists with other attributes (409)
├── ScheduleConflictError               a schedule of that name exists (409)
├── PreconditionFailedError             a stale RevisionId (412)
├── AuthenticationError                 missing, malformed, unknown or wrong credentials (401)
├── AccessDeniedError                   a key whose policy does not allow the action (403)
├── AccessKeyError (ValueError)         an access key asked for with no name or an unknown role
│   └── PolicyError                     a policy document that is not valid (names the field)
├── TooManyRequestsError                a function at its concurrency limit: a throttle (429)
├── RuntimeUnavailableError             the function runtime is not running (503)
└── UnsupportedOperationError           a Lambda API operation lambeam does not implement (404)

Each error carries what the user needs to fix it in its message, plus machine-readable fields:
`exit_code` for the CLI, `http_status` for the HTTP faces, and `lambda_error` for the Lambda API
(Lambda's own exception names, so boto3 raises what a Lambda user expects). Queue errors also
carry `sqs_error`: SQS's (error shape, query error code) pair, which the SQS API answers with.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AccessKeyError",
    "AccessKeyNotFoundError",
    "AliasNotFoundError",
    "ArtifactIntegrityError",
    "AuthenticationError",
    "CodeBundleError",
    "ColumnError",
    "ConfigError",
    "DataError",
    "DatasetNotFoundError",
    "EmptyDatasetError",
    "EventInvokeConfigNotFoundError",
    "EventSourceMappingNotFoundError",
    "FunctionConflictError",
    "FunctionNotFoundError",
    "InvalidInputError",
    "InvocationNotFoundError",
    "LambeamError",
    "MasterKeyError",
    "MessageError",
    "ModelNotFoundError",
    "NotFoundError",
    "ObjectTriggerNotFoundError",
    "PayloadTooLargeError",
    "PipelineError",
    "PolicyError",
    "PreconditionFailedError",
    "ProjectNotFoundError",
    "QueueAttributeError",
    "QueueExistsError",
    "QueueNameError",
    "QueueNotFoundError",
    "ReceiptHandleError",
    "RuntimeUnavailableError",
    "ScheduleConflictError",
    "ScheduleExpressionError",
    "ScheduleNotFoundError",
    "SealError",
    "SourceNotFoundError",
    "StorageError",
    "SubscriptionNotFoundError",
    "TooManyRequestsError",
    "TopicNotFoundError",
    "TrainingError",
    "UnsupportedOperationError",
    "UntrustedModelError",
    "ValidationError",
]


class LambeamError(Exception):
    """Root of lambeam's errors; its message is meant to be shown to the user as is."""

    exit_code: int = 1
    http_status: int = 500
    lambda_error: str = "ServiceException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(LambeamError, ValueError):
    """lambeam.toml is malformed or a setting has an unusable value."""

    exit_code = 2
    http_status = 400
    lambda_error = "InvalidParameterValueException"


class ProjectNotFoundError(ConfigError):
    """No lambeam.toml in the working directory or any parent."""


class MasterKeyError(ConfigError):
    """The master key is missing where sealed data needs it, malformed, or readable by others."""


class NotFoundError(LambeamError, LookupError):
    """A named dataset, model, version or alias does not exist."""

    http_status = 404
    lambda_error = "ResourceNotFoundException"


class DatasetNotFoundError(NotFoundError):
    """No such pipeline output or dataset version."""


class ModelNotFoundError(NotFoundError):
    """No such model or model version."""


class AliasNotFoundError(NotFoundError):
    """No such alias on a model."""


class DataError(LambeamError, ValueError):
    """The input data cannot be used the way the pipeline declares."""

    http_status = 400
    lambda_error = "InvalidRequestContentException"


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


class SealError(StorageError):
    """A sealed value or blob could not be opened: another key sealed it, or it was changed."""


class UntrustedModelError(LambeamError):
    """A stored model contains types that are not in the trusted set; it is not loaded."""

    http_status = 422


class CodeBundleError(ConfigError):
    """A code bundle is too large, malformed or unsafe, or its requirements failed to install."""


class FunctionNotFoundError(NotFoundError):
    """No such function, function version or function alias."""


class AccessKeyNotFoundError(NotFoundError):
    """No access key has that id."""


class EventInvokeConfigNotFoundError(NotFoundError):
    """A function, version or alias has no asynchronous-invocation config of its own."""


class InvocationNotFoundError(NotFoundError):
    """No asynchronous invocation has that request id."""


class EventSourceMappingNotFoundError(NotFoundError):
    """No event source mapping (a queue polled for a function) has that UUID."""


class ValidationError(ConfigError):
    """A parameter outside the range an AWS API allows (MaximumRetryAttempts 0 to 2, say):
    Lambda answers these with ValidationException rather than InvalidParameterValueException."""

    lambda_error = "ValidationException"


class InvalidInputError(DataError):
    """A predict request does not fit the model's signature; the message names field and row.

    `field` (a column or a request key) and `row` (0-based) are None when they do not apply.
    """

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.row = row


class PayloadTooLargeError(DataError):
    """A request body is larger than the limit (Lambda's 6 MB for a synchronous invoke)."""

    http_status = 413
    lambda_error = "RequestTooLargeException"

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class FunctionConflictError(LambeamError):
    """The change conflicts with what exists: a duplicate name, or a version an alias still uses."""

    http_status = 409
    lambda_error = "ResourceConflictException"


class PreconditionFailedError(LambeamError):
    """The caller's RevisionId is not the current one: someone else changed the resource first."""

    http_status = 412
    lambda_error = "PreconditionFailedException"


class AuthenticationError(LambeamError):
    """The request's credentials are missing, malformed, unknown, disabled or wrong.

    `error_code` is the Lambda-style code a face puts on the wire (x-amzn-ErrorType).
    """

    http_status = 401

    def __init__(self, message: str, error_code: str = "UnrecognizedClientException") -> None:
        super().__init__(message)
        self.error_code = error_code
        self.lambda_error = error_code


class AccessDeniedError(LambeamError):
    """The request's key is known and enabled, but its policy does not allow this action on
    this resource (no statement allows it, or one denies it)."""

    http_status = 403
    lambda_error = "AccessDeniedException"

    def __init__(self, message: str, *, action: str, resource: str) -> None:
        super().__init__(message)
        self.action = action
        self.resource = resource


class AccessKeyError(LambeamError, ValueError):
    """An access key cannot be made as asked (no name, or a role lambeam does not know)."""

    exit_code = 2
    http_status = 400
    lambda_error = "InvalidParameterValueException"


class PolicyError(AccessKeyError):
    """A policy document lambeam cannot use; the message names the statement and the field."""


class TooManyRequestsError(LambeamError):
    """A function is at its concurrency limit and no instance freed up in time (a throttle)."""

    http_status = 429
    lambda_error = "TooManyRequestsException"
    error_type = lambda_error

    def __init__(self, message: str, function_name: str) -> None:
        super().__init__(message)
        self.function_name = function_name


class RuntimeUnavailableError(LambeamError):
    """The engine is not running, or its zygote could not be started."""

    http_status = 503
    lambda_error = "ServiceException"
    error_type = lambda_error


class UnsupportedOperationError(LambeamError):
    """A Lambda API operation (a path and method boto3 knows) that lambeam does not implement."""

    http_status = 404
    lambda_error = "UnknownOperationException"


# SQS's error shape for an error, and the code its query protocol named it by (the
# x-amzn-query-error header: botocore raises the modeled exception from it).
SqsError = tuple[str, str]


class QueueNotFoundError(NotFoundError):
    """No queue has that name (SQS's QueueDoesNotExist)."""

    sqs_error: SqsError = ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")


class QueueExistsError(LambeamError):
    """A queue of that name exists with other attributes (SQS's QueueNameExists)."""

    http_status = 409
    sqs_error: SqsError = ("QueueNameExists", "QueueAlreadyExists")


class QueueAttributeError(ConfigError):
    """A queue attribute SQS would refuse: an unknown name, or a value out of its range.

    `attribute` names it; `unknown` says whether the name itself is the fault.
    """

    def __init__(self, message: str, *, attribute: str, unknown: bool = False) -> None:
        super().__init__(message)
        self.attribute = attribute
        self.unknown = unknown
        code = "InvalidAttributeName" if unknown else "InvalidAttributeValue"
        self.sqs_error: SqsError = (code, code)


class QueueNameError(QueueAttributeError):
    """A queue name SQS would refuse (1–80 of A-Z a-z 0-9 - _): SQS's InvalidParameterValue."""

    def __init__(self, message: str, *, attribute: str = "QueueName") -> None:
        super().__init__(message, attribute=attribute)
        self.sqs_error = ("InvalidParameterValue", "InvalidParameterValue")


class MessageError(DataError):
    """A message SQS would refuse: a body past the queue's MaximumMessageSize, characters SQS
    does not allow, or a malformed message attribute."""

    def __init__(self, message: str, *, code: str = "InvalidParameterValue") -> None:
        super().__init__(message)
        self.sqs_error: SqsError = (code, code)


class ReceiptHandleError(DataError):
    """A receipt handle lambeam did not give out for this queue (SQS's ReceiptHandleIsInvalid)."""

    sqs_error: SqsError = ("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid")


# Topics and object triggers (lambeam.events.topics, lambeam.events.objects).
class TopicNotFoundError(NotFoundError):
    """No topic has that name (SNS's NotFound)."""


class SubscriptionNotFoundError(NotFoundError):
    """No topic subscription has that id or ARN."""


class ObjectTriggerNotFoundError(NotFoundError):
    """No object-created trigger has that id."""


# Schedules (lambeam.events.schedules, lambeam.events.expressions).
class ScheduleExpressionError(ConfigError):
    """A schedule expression (EventBridge's cron, rate or at) or time zone that cannot be used;
    `field` names the part at fault ("day-of-week", "year", "rate", "timezone", …)."""

    lambda_error = "ValidationException"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class ScheduleNotFoundError(NotFoundError):
    """No schedule has that name."""


class ScheduleConflictError(LambeamError):
    """A schedule of that name exists already (EventBridge Scheduler's ConflictException)."""

    http_status = 409
    lambda_error = "ConflictException"
