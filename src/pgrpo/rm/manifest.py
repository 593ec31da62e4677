"""What a reward model is: `RMManifest` in `RM_DIR/pgrpo_rm.json` (written by `pgrpo rm train`, read by
every consumer; a directory without a current one is refused, naming `pgrpo rm train`; a hub id
reads as a scalar RM), the pairs' `PairsSpec` (`pgrpo_pairs.json`), and how `rm train` decides
`include_code`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from pgrpo.config import ConfigError, build_dataclass
from pgrpo.data.cli_args import checked_prompt_style
from pgrpo.data.io import write_text_atomic
from pgrpo.errors import PgrpoError
from pgrpo.paths import is_local_path
from pgrpo.rm.data import load_pairs
from pgrpo.rm.template import CODE_HEADER, TEMPLATE_VERSION

MANIFEST_FILE = "pgrpo_rm.json"
MANIFEST_VERSION = 2  # 1: the unversioned {"include_code", "source"} file of earlier releases
PAIRS_SPEC_FILE = "pgrpo_pairs.json"
REFERENCE_DIR = "reference"
RETRAIN = "pgrpo rm train --config RECIPE --out DIR"
HUB_MAX_LENGTH = 4096  # scoring budget of a hub reward model, which carries no manifest


@dataclass(frozen=True)
class ImplicitParams:
    """What the implicit head scores with (`pgrpo.rm.implicit`): `beta` scales the log-ratio,
    `prompt_style` renders the prompt, `reference` is the frozen model's directory, relative to
    the RM's own."""

    beta: float
    prompt_style: str
    reference: str = REFERENCE_DIR

    def __post_init__(self) -> None:
        # ValueError: build_dataclass prefixes it with the file and section.
        if not self.beta > 0:
            raise ValueError(f"beta: must be > 0, got {self.beta}")
        if Path(self.reference).is_absolute() or ".." in Path(self.reference).parts:
            raise ValueError(f"reference: must be a path inside the RM directory, got {self.reference!r}")
        try:
            checked_prompt_style(self.prompt_style)
        except ConfigError as exc:
            raise ValueError(f"prompt_style: {exc}") from None


@dataclass(frozen=True)
class RMManifest:
    """A trained reward model. `head`: "scalar" (sequence classification on the RM template) or
    "implicit" (then `implicit` is set); `include_code`: the RM reads (problem, reasoning, code),
    else (problem, reasoning) and any code given to it is dropped; `max_length`: tokens per
    input in training (the default scoring budget); `template`: `TEMPLATE_VERSION` it was
    trained on; `base_model`, `train_pairs`, `heldout_pairs`: provenance."""

    head: Literal["scalar", "implicit"]
    base_model: str
    include_code: bool
    max_length: int
    train_pairs: int = 0
    heldout_pairs: int = 0
    implicit: ImplicitParams | None = None
    template: int = TEMPLATE_VERSION
    version: int = MANIFEST_VERSION

    def __post_init__(self) -> None:
        if (self.head == "implicit") != (self.implicit is not None):
            raise ValueError("implicit: set exactly when head is 'implicit'")
        if self.max_length < 1:
            raise ValueError(f"max_length: must be >= 1, got {self.max_length}")


def write_manifest(model_dir: str | Path, manifest: RMManifest) -> Path:
    """Write `manifest` into `model_dir` (atomically); returns the file."""
    path = Path(model_dir) / MANIFEST_FILE
    write_text_atomic(path, json.dumps(asdict(manifest), indent=2) + "\n")
    return path


def _read_json(path: Path, what: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable {what}: {exc}") from None


def read_manifest(model_dir: str | Path) -> RMManifest:
    """The manifest of the RM in `model_dir`. PgrpoError naming the file and the command that
    regenerates it when there is none, or it has another version or template; ConfigError
    naming the key when it is malformed."""
    if not is_local_path(str(model_dir)):
        # A hub sequence-classification RM (compared on RewardBench / LCB-RB): the scalar head
        # on pgrpo's template, reasoning only. Local directories always need their manifest.
        return RMManifest("scalar", str(model_dir), include_code=False, max_length=HUB_MAX_LENGTH)
    path = Path(model_dir) / MANIFEST_FILE
    if not path.is_file():
        raise PgrpoError(f"{path}: no reward-model manifest: {model_dir} is not a reward model trained by this "
                         f"pgrpo (or by an older one); regenerate it with `{RETRAIN}`")
    data = _read_json(path, "reward-model manifest")
    version = data.get("version", 1) if isinstance(data, dict) else None
    if not isinstance(data, dict) or version != MANIFEST_VERSION:
        raise PgrpoError(f"{path}: manifest version {version}, this pgrpo reads version {MANIFEST_VERSION}; "
                         f"regenerate the reward model with `{RETRAIN}`")
    manifest = build_dataclass(RMManifest, data, prefix=str(path))
    if manifest.template != TEMPLATE_VERSION:
        raise PgrpoError(f"{path}: trained on RM template version {manifest.template}, this pgrpo encodes "
                         f"version {TEMPLATE_VERSION}; regenerate the reward model with `{RETRAIN}`")
    return manifest


@dataclass(frozen=True)
class PairsSpec:
    """The layout of a pairs file's sides: `include_code` = reasoning + a code section."""

    include_code: bool

    def write(self, pairs_dir: str | Path) -> None:
        write_text_atomic(Path(pairs_dir) / PAIRS_SPEC_FILE, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, pairs_dir: str | Path) -> PairsSpec | None:
        """The spec in `pairs_dir`, None if there is none; ConfigError naming the file if malformed."""
        path = Path(pairs_dir) / PAIRS_SPEC_FILE
        if not path.is_file():
            return None
        data = _read_json(path, "pairs spec")  # earlier releases also wrote "source" and "template"
        if not isinstance(data, dict) or not isinstance(data.get("include_code"), bool):
            raise ConfigError(f"{path}: expected a JSON object with a boolean 'include_code'")
        return cls(data["include_code"])


def training_include_code(train_path: str, choice: str = "auto") -> tuple[bool, str]:
    """(include_code, how it was decided) for a training pairs file: the `choice` flag
    ("true"/"false"), else the pairs' spec, else detected from the sides."""
    if choice != "auto":
        return choice == "true", "rm train --include-code"
    pairs_dir = Path(train_path).parent
    spec = PairsSpec.read(pairs_dir)
    if spec is not None:
        return spec.include_code, str(pairs_dir / PAIRS_SPEC_FILE)
    # Detected: most sides (load_pairs refuses a file without any) carry the template's code header.
    sides = [side for p in load_pairs(train_path, skip_bad=True).pairs for side in (p.chosen, p.rejected)]
    with_code = sum(CODE_HEADER.strip() in side for side in sides)
    return 2 * with_code > len(sides), "detected from the pairs' code sections"
