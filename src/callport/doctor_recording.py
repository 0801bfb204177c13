"""``callport doctor``'s recordings check: where finished recordings are kept and whether
every node can open them. With recordings shared between nodes (PostgreSQL: ``server.db`` a
URL and ``recording.store`` empty; or ``recording.store = "s3"``) an empty ``recording.key``
is a failure: each node would generate a key of its own, and the others would list its
recordings but not play them. Nothing is opened or written."""

from __future__ import annotations

from callport.config import Settings

Check = tuple[str, bool, str]

_WHERE = {"postgres": "in the PostgreSQL database (recording_objects), shared by every node",
          "s3": "in the S3 bucket (recording.s3), shared by every node"}


def recording_checks(settings: Settings) -> list[Check]:
    rec = settings.recording
    if rec.mode == "off":
        return []
    kept = rec.kept_in(settings.server.db)
    if kept == "local":
        from callport.recording.run import recordings_dir

        return [("recordings", True, f"kept in {recordings_dir(settings)} (this node only)")]
    if not rec.key:
        return [("recordings", False, f"{_WHERE[kept]}, but recording.key is empty: set the "
                 "same recording.key (CALLPORT_RECORDING_KEY, openssl rand -base64 32) on every "
                 "node, or each node generates its own and cannot play the others' recordings")]
    return [("recordings", True, f"{_WHERE[kept]}; recording.key set")]
