"""routepilot report stage: what routepilot did for a period, and what BGP would have done.

``collect`` reads a period from a ``ReportSource`` (any ``ControllerView``, or
``ApiSource`` for a running controller); ``build_report`` computes every
section into one JSON-ready dict; ``render_html`` and ``html_to_pdf`` present it.
"""

from routepilot.report.build import build_report
from routepilot.report.config import SlaConfig, SlaTarget
from routepilot.report.html import render_html
from routepilot.report.pdf import html_to_pdf
from routepilot.report.source import ApiSource, ReportData, ReportError, ReportSource, collect

__all__ = [
    "ApiSource",
    "ReportData",
    "ReportError",
    "ReportSource",
    "SlaConfig",
    "SlaTarget",
    "build_report",
    "collect",
    "html_to_pdf",
    "render_html",
]
