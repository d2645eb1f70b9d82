"""routepilot api stage."""
