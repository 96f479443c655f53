"""The ``outbound`` command line."""
