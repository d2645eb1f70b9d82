"""BMP (RFC 7854) route source: a station routers stream their RIBs to, as speaker events."""

from routepilot.rib.bmp.metrics import BmpMetrics
from routepilot.rib.bmp.station import MAX_MESSAGE, BmpStation
from routepilot.rib.bmp.wire import BmpError, UpdateError, parse_update

__all__ = ["MAX_MESSAGE", "BmpError", "BmpMetrics", "BmpStation", "UpdateError", "parse_update"]
