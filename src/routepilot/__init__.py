"""routepilot: intelligent route control for multihomed networks.

Flows say where traffic goes, probes say how each provider performs, and
routepilot tells the edge routers over ordinary BGP which exit to use.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
