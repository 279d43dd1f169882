"""The ``trustgen`` command line: typer + rich, thin over the Python API."""
