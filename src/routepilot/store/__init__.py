"""routepilot store stage."""
