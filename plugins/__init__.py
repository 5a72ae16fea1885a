"""pyos's built-in subsystem plugins, one folder each (a hookimpl beside its C).

They register through the same ``pyos.plugins`` entry-point group as a
third-party package would (see pyproject.toml).
"""
