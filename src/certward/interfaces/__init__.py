"""User interfaces: the command line (later: API, web, metrics)."""
