"""lambeam: Beam pipelines, scikit-learn training, a model registry, Lambda-style serving."""

from lambeam.errors import LambeamError
from lambeam.project import Project, init_project

__all__ = ["LambeamError", "Project", "__version__", "init_project"]

__version__ = "0.1.0"
