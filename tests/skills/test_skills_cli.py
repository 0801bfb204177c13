"""``callport skills install DIR``: copies both skills into DIR/<name>/, refuses to overwrite
without --force, and says why when it cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from callport import cli, cli_skills

NAMES = ["voice-telephony", "web-audio-capture"]


def test_install_copies_both_skills(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "a" / "skills"  # parents are created
    assert cli.main(["skills", "install", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == NAMES
    for name in NAMES:
        src = cli_skills.SKILLS_ROOT / name
        copied = sorted(str(p.relative_to(dest / name)) for p in (dest / name).rglob("*")
                        if p.is_file())
        original = sorted(str(p.relative_to(src)) for p in src.rglob("*")
                          if p.is_file() and "__pycache__" not in p.parts)
        assert copied == original
        assert (dest / name / "SKILL.md").read_bytes() == (src / "SKILL.md").read_bytes()
    assert not list(dest.rglob("__pycache__"))
    assert capsys.readouterr().out.split() == [str(dest / n) for n in NAMES]


def test_existing_skill_needs_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["skills", "install", str(tmp_path)]) == 0
    skill_md = tmp_path / "voice-telephony" / "SKILL.md"
    skill_md.write_text("edited")
    extra = tmp_path / "web-audio-capture" / "stale.txt"
    extra.write_text("left over")
    capsys.readouterr()
    assert cli.main(["skills", "install", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err
    assert skill_md.read_text() == "edited"  # untouched
    assert cli.main(["skills", "install", str(tmp_path), "--force"]) == 0
    assert skill_md.read_bytes() == (cli_skills.SKILLS_ROOT / "voice-telephony" / "SKILL.md"
                                     ).read_bytes()
    assert not extra.exists()  # replaced, not merged


def test_destination_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert cli.main(["skills", "install", str(target)]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_list_and_missing_package_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["skills", "list"]) == 0
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()] == NAMES
    with pytest.raises(cli_skills.SkillsError, match="no skills found"):
        cli_skills.install(tmp_path / "out", root=tmp_path / "empty")


def test_skills_needs_no_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken callport config does not stop installing skills."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    monkeypatch.setenv("CALLPORT_CONFIG", str(bad))
    assert cli.main(["skills", "install", str(tmp_path / "out")]) == 0
