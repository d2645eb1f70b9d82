"""routepilot cli stage."""
