"""Seeded data builders. Nothing here downloads anything."""

from attnbook.data.toys import COLOURS, Scene, SelectionTask, make_scene, make_selection_task

__all__ = ["COLOURS", "Scene", "SelectionTask", "make_scene", "make_selection_task"]
