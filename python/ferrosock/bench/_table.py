"""A suite's own table, for suites whose contenders are not just stdlib vs ferrosock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    """Rows of already formatted cells, plus verdict lines and the raw data for --json."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: list[dict[str, Any]] = field(default_factory=list)

    def text(self) -> str:
        widths = [max(len(h), *(len(r[i]) for r in self.rows)) for i, h in enumerate(self.headers)]
        line = "  ".join(h.ljust(w) for h, w in zip(self.headers, widths))
        out = [self.title, line, "  ".join("-" * w for w in widths)]
        for row in self.rows:
            out.append(
                "  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths))
            )
        out.extend(self.notes)
        return "\n".join(out)

    def markdown(self) -> str:
        out = [f"**{self.title}**", "", "| " + " | ".join(self.headers) + " |"]
        out.append("|" + "|".join("---" for _ in self.headers) + "|")
        out.extend("| " + " | ".join(row) + " |" for row in self.rows)
        out.append("")
        out.extend(f"- {note}" for note in self.notes)
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "rows": self.data, "notes": self.notes}


def _numeric(cell: str) -> bool:
    """A figure, right-aligned: starts with a digit, or a sign and a digit."""
    return cell[:1].isdigit() or (cell[:1] in "+-" and cell[1:2].isdigit())
