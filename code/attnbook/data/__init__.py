"""Seeded data builders. Nothing here downloads anything."""

from attnbook.data.regression import RegressionData, make_regression, regression_truth
from attnbook.data.toys import COLOURS, Scene, SelectionTask, make_scene, make_selection_task

__all__ = [
    "COLOURS",
    "RegressionData",
    "Scene",
    "SelectionTask",
    "make_regression",
    "make_scene",
    "make_selection_task",
    "regression_truth",
]
