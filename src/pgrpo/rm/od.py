"""OD rewrites as text (`pgrpo rm pairs`; the run is `pgrpo.rm.pairs`): `ODTemplates` (od_templates/,
overridable file by file), `check_initial` / `check_variant` and `build_pairs`. No LLM, no code run.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pgrpo.config import ConfigError
from pgrpo.parsing import parse_response
from pgrpo.rm.template import response_text

TEMPLATE_DIR = Path(__file__).with_name("od_templates")
TEMPLATE_FILES = ("system.txt", "optimize.txt", "degrade.txt", "dimensions.yaml")
DIRECTIONS = ("optimized", "degraded")
PLACEHOLDERS = frozenset({"statement", "response", "dimension", "dimension_description"})


@dataclass(frozen=True)
class ODTemplates:
    """Rewrite prompts. `optimize` / `degrade` are string.Template texts ($statement, $response,
    $dimension, $dimension_description); `dimensions` maps name -> description, in order."""

    system: str
    optimize: str
    degrade: str
    dimensions: dict[str, str]

    @classmethod
    def load(cls, override_dir: str | Path | None = None) -> ODTemplates:
        """The packaged templates, with any file present in `override_dir` replacing its default."""
        texts = {}
        for name in TEMPLATE_FILES:
            path = TEMPLATE_DIR / name
            if override_dir is not None and (Path(override_dir) / name).is_file():
                path = Path(override_dir) / name
            texts[name] = (path, path.read_text(encoding="utf-8"))
        for name in ("optimize.txt", "degrade.txt"):
            path, text = texts[name]
            found = {m.group("named") or m.group("braced") for m in string.Template.pattern.finditer(text)} - {None}
            unknown = found - PLACEHOLDERS
            if unknown:
                raise ConfigError(f"{path}: unknown placeholder(s) {sorted(unknown)}; known: {sorted(PLACEHOLDERS)}")
            if not {"statement", "response"} <= found:
                raise ConfigError(f"{path}: the template must use $statement and $response")
        path, text = texts["dimensions.yaml"]
        try:
            dims = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
        if not isinstance(dims, dict) or not dims or not all(isinstance(v, str) for v in dims.values()):
            raise ConfigError(f"{path}: expected a mapping of dimension name -> description")
        return cls(texts["system.txt"][1].strip(), texts["optimize.txt"][1], texts["degrade.txt"][1],
                   {str(k): v.strip() for k, v in dims.items()})

    def messages(self, direction: str, dimension: str, statement: str, response: str) -> list[dict[str, str]]:
        template = self.optimize if direction == "optimized" else self.degrade
        user = string.Template(template).substitute(
            statement=statement.strip(), response=response.strip(), dimension=dimension,
            dimension_description=self.dimensions[dimension])
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def side_text(response: str, include_code: bool = False) -> str:
    """A response as one side of a pair: its reasoning [+ its code section] (rm template).

    Reasoning-only sides equal what the RL thinking reward scores for the same completion.
    """
    parsed = parse_response(response)
    return response_text(parsed.reasoning or response.strip(), (parsed.code or None) if include_code else None)


def check_initial(text: str, require_format: bool) -> str | None:
    """Why the initial response can't seed pairs (None if it can)."""
    if not text.strip():
        return "empty"
    parsed = parse_response(text)
    if require_format and not parsed.format_ok:
        return "bad format"
    if not parsed.reasoning.strip():
        return "no reasoning"
    return None


def check_variant(original: str, variant: str, require_format: bool) -> str | None:
    """Why a rewrite is unusable (None if usable): empty, unchanged, format lost, or no reasoning."""
    # "unchanged" looks at reasoning and code: a code-only rewrite is not a duplicate (build_pairs
    # drops its pairs if the sides come out identical).
    if variant.strip() and (_norm(variant) == _norm(original)
                            or _norm(side_text(variant, True)) == _norm(side_text(original, True))):
        return "unchanged"
    reason = check_initial(variant, require_format and parse_response(original).format_ok)
    return "format lost" if reason == "bad format" else reason


def build_pairs(statement: str, initial: str, variants: dict[str, dict[str, str | None]],
                include_code: bool = False) -> list[dict[str, Any]]:
    """Pairs for one problem. `variants[dim][direction]` = valid rewrite text or None."""
    pairs = []
    y = side_text(initial, include_code)
    for dim, sides in variants.items():
        plus, minus = (side_text(text, include_code) if text else None
                       for text in (sides.get("optimized"), sides.get("degraded")))
        for pair_type, chosen, rejected in (("strong", plus, minus), ("degraded", y, minus),
                                            ("optimized", plus, y)):
            if chosen and rejected and _norm(chosen) != _norm(rejected):
                pairs.append({"prompt": statement, "chosen": chosen, "rejected": rejected,
                              "pair_type": pair_type, "dimension": dim})
    return pairs
