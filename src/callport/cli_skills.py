"""``callport skills``: list and install the Agent Skills shipped inside the package.

The skills (``voice-telephony``, ``web-audio-capture``) live in ``callport/skills/<name>/`` as
package data, so a pip install carries them; the repository's top-level ``skills`` is a link to
that folder. ``callport skills install DIR`` copies each skill folder to ``DIR/<name>/``
(creating DIR), where a coding assistant looks for skills (for example ``.claude/skills`` or
``~/.claude/skills``). An existing ``DIR/<name>`` is left alone unless ``--force`` replaces it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

SKILLS_ROOT = Path(__file__).resolve().parent / "skills"


class SkillsError(Exception):
    """The install cannot go ahead: exit 2 with this message."""


def available(root: Path = SKILLS_ROOT) -> list[Path]:
    """Skill folders shipped with callport (each holds a SKILL.md)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "SKILL.md").is_file())


def install(dest: Path, *, force: bool = False, root: Path = SKILLS_ROOT) -> list[Path]:
    """Copy every skill into ``dest/<name>``; returns the folders written."""
    skills = available(root)
    if not skills:
        raise SkillsError(f"no skills found in {root} (a broken install?)")
    if dest.exists() and not dest.is_dir():
        raise SkillsError(f"{dest} exists and is not a directory")
    targets = [dest / s.name for s in skills]
    clash = [t for t in targets if t.exists() or t.is_symlink()]
    if clash and not force:
        names = ", ".join(str(t) for t in clash)
        raise SkillsError(f"{names} already exists; use --force to replace")
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for skill, target in zip(skills, targets, strict=True):
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.exists():
            shutil.rmtree(target)
        shutil.copytree(skill, target, ignore=ignore)
    return targets


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    skills = sub.add_parser("skills", help="install the voice-telephony and web-audio-capture "
                            "Agent Skills for a coding assistant")
    skills_sub = skills.add_subparsers(dest="skills_command", required=True, metavar="ACTION")
    inst = skills_sub.add_parser(
        "install", help="copy the skills into DIR/<name>/",
        description="Copy each skill folder into DIR/<name>/ (DIR is created), e.g. "
        "`callport skills install .claude/skills`.",
    )
    inst.add_argument("dir", type=Path, metavar="DIR")
    inst.add_argument("--force", action="store_true", help="replace skills already there")
    skills_sub.add_parser("list", help="name the skills and where they are")


def run(args: argparse.Namespace) -> int:
    if args.skills_command == "list":
        for skill in available():
            print(f"{skill.name}\t{skill}")
        return 0
    try:
        written = install(args.dir, force=args.force)
    except (SkillsError, OSError) as exc:
        print(f"callport: {exc}", file=sys.stderr)
        return 2
    for target in written:
        print(target)
    return 0
