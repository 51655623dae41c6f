"""A registered version loads in a fresh interpreter and reproduces its predictions exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression

from lambeam.project import init_project
from lambeam.registry import set_alias
from tests.registry.fitted import class_labels, fitted, frame, register, regression_target

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import pandas as pd
    from lambeam.project import Project
    from lambeam.registry import get_model_version

    root, rows = Path(sys.argv[1]), pd.read_parquet(sys.argv[2])
    project = Project.open(root, environ={})
    forest = get_model_version(project.db, project.store, "churn@prod").load()
    linear = get_model_version(project.db, project.store, "price").load()
    print(json.dumps({
        "labels": forest.predict(rows).tolist(),
        "proba": forest.predict_proba(rows).tolist(),
        "price": linear.predict(rows).tolist(),
    }))
    project.close()
    """
)


def test_fresh_process_reproduces_predictions(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    project = init_project(root, environ={})
    train, rows = frame(rows=200, seed=0), frame(rows=40, seed=5)
    forest = fitted(
        RandomForestClassifier(n_estimators=20, random_state=0), train, class_labels(train)
    )
    linear = fitted(LinearRegression(), train, regression_target(train))
    register(project.db, project.store, forest, sample=rows)
    register(project.db, project.store, linear, model="price", task="regression", sample=rows)
    set_alias(project.db, "churn", "prod", 1)
    expected = {
        "labels": forest.predict(rows).tolist(),
        "proba": forest.predict_proba(rows).tolist(),
        "price": linear.predict(rows).tolist(),
    }
    project.close()

    # Only what the project on disk holds: no LAMBEAM_* settings leak into the child.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBEAM_")}
    rows.to_parquet(tmp_path / "rows.parquet")  # Parquet keeps every float64 bit
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root), str(tmp_path / "rows.parquet")],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == expected
