"""Model response -> reasoning, code or answer, and the format verdict R_f. Pure text."""

from pgrpo.parsing.response import (
    MathParsed,
    ParsedResponse,
    extract_code,
    find_fences,
    format_response,
    normalize_newlines,
    parse_math_response,
    parse_response,
)

__all__ = ["MathParsed", "ParsedResponse", "extract_code", "find_fences", "format_response",
           "normalize_newlines", "parse_math_response", "parse_response"]
