"""The daemon (`routepilot run`): the one place where the stages are wired together."""
