"""routepilot lab stage."""
