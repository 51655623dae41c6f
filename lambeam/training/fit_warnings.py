"""Warnings raised while a model is fitted, scored or registered, gathered for the run's summary.

scikit-learn warns by printing several lines to stderr (a ConvergenceWarning is six). A user wants
to know that a model did not converge, once, in one line beside the scores; not the raw text of
every fold of a search.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

__all__ = ["WarningText", "gathering", "one_line", "summarise"]

log = logging.getLogger(__name__)

# (category name, message on one line): picklable, so a search's worker processes can return it.
WarningText = tuple[str, str]

# Raised by the libraries lambeam calls to store a model (skl2onnx reading a scikit-learn attribute
# that is deprecated, for instance): nothing the user declared causes them or can change them.
_LIBRARY_NOTICES = (FutureWarning, DeprecationWarning, PendingDeprecationWarning)


def one_line(category: type[Warning], message: Warning | str) -> WarningText:
    """A warning as (category, its first paragraph with whitespace collapsed)."""
    text = str(message).strip()
    first = text.split("\n\n", 1)[0]
    return category.__name__, " ".join(first.split())


@contextmanager
def gathering(*, registering: bool = False) -> Iterator[list[WarningText]]:
    """Collect every warning raised in the block instead of printing it.

    With `registering`, deprecation notices (from the libraries that store and convert the model)
    go to the debug log rather than to the user.
    """
    gathered: list[WarningText] = []
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield gathered
    for caught in seen:
        if registering and issubclass(caught.category, _LIBRARY_NOTICES):
            log.debug("while registering: %s: %s", caught.category.__name__, caught.message)
            continue
        gathered.append(one_line(caught.category, caught.message))


def summarise(texts: Iterable[WarningText]) -> list[str]:
    """One line per distinct warning, in the order first seen, with how often it was raised."""
    counts = Counter(texts)
    return [
        f"{category}: {message}" + (f" ({count} times)" if count > 1 else "")
        for (category, message), count in counts.items()
    ]
