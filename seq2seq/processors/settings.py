"""JSON persistence shared by the media processors (dataclasses of plain settings)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any


class JsonSettings:
    """``to_dict``/``from_dict``/``save``/``load`` and a settings ``fingerprint`` for a dataclass
    whose ``kind`` field names the modality; unknown settings are an error that lists the known ones."""

    kind: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]):
        values = dict(values)
        kind = cls.__dataclass_fields__["kind"].default
        if values.pop("kind", kind) != kind:
            raise ValueError(f"not a {kind} processor: {values}")
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown {kind} processor setting(s): {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        return cls(**values)

    @property
    def fingerprint(self) -> str:
        """Equal fingerprints give equal preprocessing: part of every cache key."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{cls.__dataclass_fields__['kind'].default} processor file not found: {path}")
        return cls.from_dict(json.loads(path.read_text()))
