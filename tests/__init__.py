"""pgrpo's tests: a regular package, so a spawned test worker imports `tests.<dir>.<module>` from here and
not the top-level `tests` package some dependencies install into site-packages (verl, openrlhf)."""
