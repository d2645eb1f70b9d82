"""The controller's view, as the API serves it: the contract lives in ``routepilot.view``,
shared by every surface (API, dashboard, CLI, reports), so that no surface imports
another's modules for it."""

from routepilot.view import ActionError, ControllerView, SeriesQuery

__all__ = ["ActionError", "ControllerView", "SeriesQuery"]
