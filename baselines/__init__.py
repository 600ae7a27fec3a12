"""calibench's baseline methods, registered exactly as a third-party plugin would be:
through the ``calibench.methods`` entry point declared in pyproject.toml (see register.py)."""
