"""An estimator factory named by a training spec as `module:function`."""

from sklearn.ensemble import RandomForestClassifier


def make_forest() -> RandomForestClassifier:
    return RandomForestClassifier(max_depth=3, random_state=0)
