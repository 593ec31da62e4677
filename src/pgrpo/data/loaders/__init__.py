"""Problem loaders: one module per public format, a registry, autodetection.

Owns the public loading API: `load_problems`, `iter_problems`, `detect_format`, `LOADERS`
(format name -> Loader), and re-exports pgrpo's own format (`problem_to_dict`,
`problem_from_dict`). Importing this package registers every built-in format.
"""

from __future__ import annotations

from pgrpo.data.loaders import (  # noqa: F401 (registers)
    apps,
    bigcodebench,
    codecontests,
    evalplus,
    humaneval,
    lcb,
    mbpp,
    pgrpo_format,
)
from pgrpo.data.loaders.api import detect_format, get_loader, iter_problems, known_formats, load_problems
from pgrpo.data.loaders.base import LOADERS, Loader, LoadOptions, Record
from pgrpo.data.loaders.safe_pickle import decode_private_tests
from pgrpo.data.schema import problem_from_dict, problem_to_dict

__all__ = [
    "LOADERS",
    "LoadOptions",
    "Loader",
    "Record",
    "decode_private_tests",
    "detect_format",
    "get_loader",
    "iter_problems",
    "known_formats",
    "load_problems",
    "problem_from_dict",
    "problem_to_dict",
]
