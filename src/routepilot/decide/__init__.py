"""routepilot decide stage."""
