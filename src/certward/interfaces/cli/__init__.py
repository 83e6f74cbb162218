"""The ``certward`` command line (typer + rich): thin verbs over ``certward.services``."""
