"""lambeam: Beam pipelines, scikit-learn training, a model registry, Lambda-style serving."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambeam.errors import LambeamError

if TYPE_CHECKING:
    from lambeam.project import Project, init_project

__all__ = ["LambeamError", "Project", "__version__", "init_project"]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Imported on first use: every `import lambeam.x` runs this file, and the project brings
    # the database and artifact layers (~0.6 s) that `lambeam --help` or a gateway call skip.
    if name in ("Project", "init_project"):
        from lambeam import project

        return getattr(project, name)
    raise AttributeError(f"module 'lambeam' has no attribute {name!r}")
