"""What an import did, in words a user can act on."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from assetmap.errors import AssetmapError


class ImportFileError(AssetmapError):
    """The file as a whole cannot be imported; the database was not changed."""


# C0 controls but tab, LF and CR; DEL; C1 controls.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass
class DroppedControls:
    """Control characters taken out of imported text: invisible on a page or a handout,
    they break searching and printing, and PostgreSQL refuses NUL in text outright."""

    characters: int = 0
    fields: int = 0

    def clean(self, text: str) -> str:
        cleaned, n = _CONTROLS.subn("", text)
        if n:
            self.characters += n
            self.fields += 1
        return cleaned

    def notes(self) -> list[str]:
        if not self.characters:
            return []
        return [f"dropped {self.characters:,} control characters in {self.fields:,} fields"]


@dataclass
class ImportReport:
    source: str
    what: str
    read: int = 0
    loaded: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    # Line number and reason of the first few rejected rows, to find them in the file.
    examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Problems worth a look that do not stop a record: problem -> names of the records.
    flags: dict[str, list[str]] = field(default_factory=dict)

    def flag(self, problem: str, record: str) -> None:
        self.flags.setdefault(problem, []).append(record)

    def flag_lines(self) -> list[str]:
        lines = []
        for problem, names in sorted(self.flags.items(), key=lambda kv: -len(kv[1])):
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            lines.append(f"flagged: {len(names):,} {problem} ({shown})")
        return lines

    def reject(self, line: int, reason: str) -> None:
        self.rejected[reason] += 1
        if len(self.examples) < 5:
            self.examples.append(f"line {line}: {reason}")

    def summary(self) -> str:
        text = f"{self.source}: read {self.read:,} {self.what}, loaded {self.loaded:,}"
        if self.rejected:
            reasons = "; ".join(f"{n:,} {reason}" for reason, n in self.rejected.most_common())
            text += f", rejected {sum(self.rejected.values()):,} ({reasons})"
        else:
            text += ", rejected 0"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source, "read": self.read, "loaded": self.loaded,
            "rejected": dict(self.rejected), "examples": self.examples, "notes": self.notes,
            "flags": {problem: names for problem, names in self.flags.items()},
        }

    def check_mostly_valid(self, expected: str) -> None:
        """A file whose rows are mostly rejected is the wrong file, not a file with bad rows."""
        bad = sum(self.rejected.values())
        if self.read == 0:
            raise ImportFileError(f"{self.source} holds no {self.what}: expected {expected}")
        if bad > self.read / 2:
            first = self.examples[0] if self.examples else ""
            raise ImportFileError(
                f"{self.source}: {bad:,} of {self.read:,} rows are not valid ({first}): "
                f"is this {expected}, with its columns in the published order? Nothing was imported"
            )
