"""Rule profiles: a programme's submitters, deadlines, targets and panel rules, kept as data.

A profile is a TOML file. The shipped ones live in ``sheetsync/profiles/``; a city copies one,
edits it and points its job file at the copy: no code changes.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sheetsync.schemas import SubmitterKind


class Submitter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: SubmitterKind
    # an agency's sector: the 企业类别 it covers (empty for districts and the office)
    sector: tuple[str, ...] = ()
    # an agency may instead (or also) cover the mandatory-audit list
    mandatory: bool = False


class Profile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    title: str
    notice: str = ""
    office: str
    districts: tuple[str, ...]
    agencies: tuple[Submitter, ...] = ()
    reporting: str = Field(default="monthly", pattern="^(monthly|quarterly)$")

    @property
    def submitters(self) -> tuple[Submitter, ...]:
        office = Submitter(name=self.office, kind=SubmitterKind.OFFICE)
        districts = tuple(Submitter(name=name, kind=SubmitterKind.DISTRICT) for name in self.districts)
        return (*districts, *self.agencies, office)

    def submitter(self, name: str) -> Submitter | None:
        return next((submitter for submitter in self.submitters if submitter.name == name), None)


def shipped_profiles() -> list[str]:
    folder = resources.files("sheetsync") / "profiles"
    return sorted(
        entry.name.removesuffix(".toml") for entry in folder.iterdir() if entry.name.endswith(".toml")
    )


@cache
def _load_shipped(name: str) -> Profile:
    text = (resources.files("sheetsync") / "profiles" / f"{name}.toml").read_text(encoding="utf-8")
    return Profile.model_validate(tomllib.loads(text))


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name (``guangzhou-2013``) or a city's own copy by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return Profile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    if str(name_or_path) not in shipped_profiles():
        raise KeyError(f"unknown profile {name_or_path!r}; shipped: {', '.join(shipped_profiles())}")
    return _load_shipped(str(name_or_path))
