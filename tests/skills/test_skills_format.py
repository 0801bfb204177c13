"""The two Agent Skills are valid: the reference validator (``agentskills validate`` from the
``skills-ref`` package) accepts them, and the format's other rules hold (README "Skills").

Also: every file SKILL.md names exists, every reference opens with its source and the date it
was read, evals.json has at least 8 cases in the format's convention, the repository's
``skills/`` is the package's copy, and the shared worklets equal the page's.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import callport

SKILLS = Path(callport.__file__).resolve().parent / "skills"
REPO = Path(__file__).resolve().parents[2]
NAMES = ["voice-telephony", "web-audio-capture"]
ALLOWED_KEYS = {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}


def front_matter(skill: Path) -> tuple[dict[str, str], list[str]]:
    """Top-level keys (with their one-line values) and the body's lines."""
    text = (skill / "SKILL.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n(.*)", text, re.DOTALL)
    assert match, f"{skill.name}: SKILL.md has no YAML front matter"
    keys = {}
    for line in match.group(1).splitlines():
        if line and not line.startswith(" "):
            key, _, value = line.partition(":")
            keys[key] = value.strip()
    return keys, match.group(2).splitlines()


def test_both_skills_are_shipped() -> None:
    assert sorted(p.name for p in SKILLS.iterdir() if (p / "SKILL.md").is_file()) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_reference_validator_accepts(name: str) -> None:
    pytest.importorskip("skills_ref", reason="skills-ref is in the dev extra")
    cli = Path(sys.executable).parent / "agentskills"
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "skills_ref.cli"]
    done = subprocess.run([*command, "validate", str(SKILLS / name)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Valid skill" in done.stdout


def test_reference_validator_rejects_a_bad_skill(tmp_path: Path) -> None:
    """The validator really checks (an unknown key and a name that is not the folder's)."""
    pytest.importorskip("skills_ref")
    from skills_ref.validator import validate

    bad = tmp_path / "my-skill"
    bad.mkdir()
    (bad / "SKILL.md").write_text("---\nname: other\ndescription: x\nuser-invocable: true\n---\n")
    errors = validate(bad)
    assert any("user-invocable" in e for e in errors)
    assert any("must match" in e for e in errors)


@pytest.mark.parametrize("name", NAMES)
def test_front_matter_and_body(name: str) -> None:
    keys, body = front_matter(SKILLS / name)
    assert set(keys) <= ALLOWED_KEYS, set(keys) - ALLOWED_KEYS
    assert keys["name"] == name
    description = keys["description"]
    assert 1 <= len(description) <= 1024 and "<" not in description and ">" not in description
    assert "Use when" in description  # says when to use it, not only what it is
    assert len(body) < 500
    assert "## Gotchas" in "\n".join(body)


@pytest.mark.parametrize("name", NAMES)
def test_files_named_in_skill_md_exist(name: str) -> None:
    skill = SKILLS / name
    text = (skill / "SKILL.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:references|scripts|assets)/[\w./-]+)`", text))
    assert named, "SKILL.md names no bundled files"
    missing = sorted(p for p in named if not (skill / p).exists())
    assert not missing, missing
    for folder in ("references", "scripts", "assets"):  # and nothing bundled goes unmentioned
        for path in (skill / folder).glob("*") if (skill / folder).is_dir() else []:
            if path.is_file():
                assert f"{folder}/{path.name}" in text, f"SKILL.md never names {path.name}"


@pytest.mark.parametrize("name", NAMES)
def test_every_reference_names_its_source_and_date(name: str) -> None:
    refs = sorted((SKILLS / name / "references").glob("*.md"))
    assert len(refs) >= 5
    for ref in refs:
        head = "\n".join(ref.read_text(encoding="utf-8").splitlines()[:6])
        assert re.search(r"^Sources?( \(retrieved 2026-12-01\))?:", head, re.MULTILINE), ref.name
        assert "https://" in head or "callport's own repository" in head, ref.name
        assert "2026-12-01" in head, ref.name


@pytest.mark.parametrize("name", NAMES)
def test_evals(name: str) -> None:
    data = json.loads((SKILLS / name / "evals" / "evals.json").read_text(encoding="utf-8"))
    assert data["skill_name"] == name
    cases = data["evals"]
    assert len(cases) >= 8
    assert len({c["id"] for c in cases}) == len(cases)
    for case in cases:
        assert case["prompt"].strip() and case["expected_output"].strip()
        assert isinstance(case["files"], list)
        assert len(case["expectations"]) >= 2 and all(e.strip() for e in case["expectations"])


def test_repository_skills_folder_is_the_package_copy() -> None:
    link = REPO / "skills"
    assert link.is_symlink(), "skills/ at the repository root links to src/callport/skills"
    assert link.resolve() == SKILLS


def test_shared_worklets_equal_the_page_copy() -> None:
    page = SKILLS.parent / "web" / "worklets.js"
    asset = SKILLS / "web-audio-capture" / "assets" / "worklets.js"
    assert asset.read_bytes() == page.read_bytes(), (
        "assets/worklets.js differs from src/callport/web/worklets.js: copy the page's file")
