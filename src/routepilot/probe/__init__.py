"""routepilot probe stage."""
