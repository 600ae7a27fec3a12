"""An example calibench plugin package: one recipe (the confidence penalty), registered through
an entry point.

See docs/plugins.md in the calibench repository for the walk-through.
"""
