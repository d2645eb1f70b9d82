"""routepilot rib stage."""
