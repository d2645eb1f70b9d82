"""routepilot inject stage."""
