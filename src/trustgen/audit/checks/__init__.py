"""One module per format family; each ``check_*(blob, scope)`` records findings and returns the refined format."""
