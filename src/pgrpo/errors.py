"""Error types whose message is meant for the user (the CLI prints them without a traceback)."""


class PgrpoError(Exception):
    """Base for user-facing errors: the message names the file, line, key or item at fault."""


class DataError(PgrpoError, ValueError):
    """Bad input data: the message names the file, line and field."""
