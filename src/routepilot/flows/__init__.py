"""routepilot flows stage."""
