"""routepilot web stage."""
