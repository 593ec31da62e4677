"""Error types whose message is meant for the user (the CLI prints them without a traceback)."""


class PgrpoError(Exception):
    """Base for user-facing errors: the message names the file, line, key or item at fault."""


class DataError(PgrpoError, ValueError):
    """Bad input data: the message names the file, line and field."""


class RankFailure(PgrpoError):
    """Something failed on one or more ranks of a multi-process run: raised on every rank, naming each
    failing rank and its error (`name_ranks`), so that no rank is left waiting for the others."""


def name_ranks(failed: list[tuple[int, str]]) -> str:
    """`rank 1: error` for each (rank, error); ranks with the same error share one entry (`ranks 0, 1: error`)."""
    by_error: dict[str, list[int]] = {}
    for rank, message in failed:
        by_error.setdefault(message, []).append(rank)
    return "; ".join(f"rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))}: {message}"
                     for message, ranks in by_error.items())
