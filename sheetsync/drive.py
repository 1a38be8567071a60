"""The shared drive's layout: where submissions arrive and where the master goes.

Only paths and listing live here, so the pipeline stages never build a path by hand.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

DRIVE_FILE = "sheetsync.toml"
MASTER_NAME = "总台账.xlsx"


class DriveSettings(BaseModel):
    """The little a drive says about itself: which profile its submitters follow."""

    model_config = ConfigDict(extra="ignore")

    profile: str
    demo: bool = False  # built by `sheetsync demo`: may be rebuilt from scratch


@dataclass(frozen=True)
class Drive:
    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def master_dir(self) -> Path:
        return self.root / "master"

    @property
    def master_path(self) -> Path:
        return self.master_dir / MASTER_NAME

    @property
    def register_path(self) -> Path:
        return self.root / "register" / "register.sqlite"

    @property
    def register_url(self) -> str:
        return f"sqlite:///{self.register_path}"

    @property
    def settings_path(self) -> Path:
        return self.root / DRIVE_FILE

    def settings(self) -> DriveSettings | None:
        if not self.settings_path.is_file():
            return None
        return DriveSettings.model_validate(tomllib.loads(self.settings_path.read_text(encoding="utf-8")))

    def write_settings(self, profile: str, *, demo: bool = False) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        text = f'profile = "{profile}"\n' + ("demo = true\n" if demo else "")
        self.settings_path.write_text(text, encoding="utf-8")

    def submitter_folder(self, submitter: str) -> Path:
        return self.inbox / submitter

    def display_name(self, path: Path) -> str:
        """A file's name as officers see it: relative to the drive, with forward slashes."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.name

    def submissions(self) -> list[tuple[str, Path]]:
        """(submitter folder, file) for every candidate file, oldest upload first.

        Office lock files (``~$…``) and hidden or temporary files are never submissions.
        """
        found: list[tuple[float, str, str, Path]] = []
        if not self.inbox.is_dir():
            return []
        for folder in sorted(p for p in self.inbox.iterdir() if p.is_dir() and not _ignored(p.name)):
            for path in folder.iterdir():
                if path.is_file() and not _ignored(path.name):
                    found.append((path.stat().st_mtime, folder.name, path.name, path))
        found.sort(key=lambda item: item[:3])
        return [(submitter, path) for _, submitter, _, path in found]


def _ignored(name: str) -> bool:
    return name.startswith(("~$", ".", "~")) or name.endswith((".tmp", ".part", ".crdownload"))
