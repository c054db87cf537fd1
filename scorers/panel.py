"""Judge panels: several judges read as one source (`--judge-panel NAME=JUDGE,JUDGE,...` or
a `[[panels]]` table of the config).

A panel is configuration, not a judge: it asks no model and writes no event. Its verdict
on an item is derived from its members' verdicts whenever a session is read (the rule is
in scorers/stats/panels.py), so a member's changed verdict changes the panel's too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


class PanelError(Exception):
    """A panel that cannot be used: the message names the panel and what is wrong. `key`:
    the table key at fault (the config names its line)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class PanelSpec:
    """A panel's name and its members (judge names, in the order given)."""

    name: str
    judges: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "judges": list(self.judges)}

    @classmethod
    def from_dict(cls, saved: Any) -> PanelSpec | None:
        """From a session header; None for an entry that is not a panel (never a guess)."""
        if not isinstance(saved, dict):
            return None
        name, judges = saved.get("name"), saved.get("judges")
        if not isinstance(name, str) or not isinstance(judges, list):
            return None
        if not all(isinstance(j, str) for j in judges):
            return None
        return cls(name, tuple(judges))


def parse_panel_flag(text: str) -> PanelSpec:
    """`NAME=JUDGE,JUDGE,...` into a PanelSpec; its members are checked by `check_panels`."""
    name, sep, members = text.partition("=")
    judges = tuple(j.strip() for j in members.split(",") if j.strip())
    if not sep or not name.strip():
        raise PanelError(f"--judge-panel {text!r}: expected NAME=JUDGE,JUDGE,...")
    return _spec(name.strip(), judges, f"--judge-panel {text!r}")


def panel_table(table: Any) -> PanelSpec:
    """One `[[panels]]` table: `name` (a string) and `judges` (a list of judge names)."""
    if not isinstance(table, dict):
        raise PanelError("panels must be [[panels]] tables")
    unknown = sorted(set(table) - {"name", "judges"})
    if unknown:
        raise PanelError(f"[[panels]] unknown key {unknown[0]!r} (name and judges)", unknown[0])
    name, judges = table.get("name"), table.get("judges")
    if not isinstance(name, str) or not name.strip():
        raise PanelError("[[panels]] name must be a non-empty string", "name" if "name" in table else None)
    if not isinstance(judges, list) or not all(isinstance(j, str) and j.strip() for j in judges):
        raise PanelError(f"[[panels]] {name}: judges must be a list of judge names", "judges")
    return _spec(name.strip(), tuple(j.strip() for j in judges), f"[[panels]] {name}")


def _spec(name: str, judges: tuple[str, ...], where: str) -> PanelSpec:
    twice = sorted({j for j in judges if judges.count(j) > 1})
    if twice:
        raise PanelError(f"{where}: judge {twice[0]} is named twice", "judges")
    if len(judges) < 2:
        raise PanelError(f"{where}: a panel needs at least 2 judges, got {len(judges)}", "judges")
    return PanelSpec(name, judges)


def check_panels(panels: Iterable[PanelSpec], judges: Iterable[str], where: Callable[[int], str]) -> None:
    """Every panel names judges that exist, is not named like a judge, and has a name of its
    own. `where(index)` says where the index-th panel was given (a flag, a file's line)."""
    known = list(dict.fromkeys(judges))
    seen: set[str] = set()
    for index, panel in enumerate(panels):
        here = where(index)
        for judge in panel.judges:
            if judge not in known:
                have = ", ".join(known) or "none"
                raise PanelError(f"{here}: panel {panel.name}: unknown judge {judge!r} (judges: {have})")
        if panel.name in known:
            raise PanelError(f"{here}: panel {panel.name}: a judge has that name; name the panel otherwise")
        if panel.name in seen:
            raise PanelError(f"{here}: panel {panel.name} is defined twice")
        seen.add(panel.name)


def panels_in(header: dict[str, Any]) -> tuple[PanelSpec, ...]:
    """The panels a session's header names (entries that are not panels are left out)."""
    saved = header.get("panels")
    if not isinstance(saved, list):
        return ()
    return tuple(spec for spec in map(PanelSpec.from_dict, saved) if spec is not None)


def header_judges(header: dict[str, Any] | None) -> list[str]:
    """The names of the judges a session's (or comparison's) header says it was run with: on
    reopening they count as known to a panel, without naming them again."""
    saved = (header or {}).get("judges")
    entries = saved if isinstance(saved, list) else []
    names = [entry.get("name") for entry in entries if isinstance(entry, dict)]
    return [name for name in names if isinstance(name, str)]


def merged(saved: Iterable[PanelSpec], given: Iterable[PanelSpec]) -> tuple[PanelSpec, ...]:
    """A session's panels after this command: the saved ones, each replaced by a panel of
    the same name given now, then the new ones."""
    out = {panel.name: panel for panel in saved}
    out.update({panel.name: panel for panel in given})
    return tuple(out.values())


def session_panels(
    saved: Iterable[PanelSpec], flags: Iterable[str], judges: Iterable[str]
) -> tuple[PanelSpec, ...]:
    """The panels a saved session (or comparison) has after `sftscope judge` or `compare`:
    those `saved` in its header, each replaced by a `--judge-panel` of the same name, then
    the new ones; all checked against its judges."""
    texts = list(flags)
    return resolve_panels(saved, [(parse_panel_flag(t), f"--judge-panel {t}") for t in texts], judges)


def resolve_panels(
    saved: Iterable[PanelSpec], given: Iterable[tuple[PanelSpec, str]], judges: Iterable[str]
) -> tuple[PanelSpec, ...]:
    """The `saved` panels, each replaced by a `given` one of the same name (each with where
    it was given: a flag, a config's file:line), then the new ones; all checked against
    `judges`. A saved panel at fault is named as the header's."""
    pairs = list(given)
    names = {panel.name for panel, _ in pairs}
    kept = [panel for panel in saved if panel.name not in names]
    where = [f"session.toml panel {panel.name}" for panel in kept] + [here for _, here in pairs]
    new = [panel for panel, _ in pairs]
    check_panels([*kept, *new], judges, lambda index: where[index])
    return merged(kept, new)
