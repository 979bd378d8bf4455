"""Every server setting is documented in the README's configuration table."""

from __future__ import annotations

from pathlib import Path

from tekcify_auth.server.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("### Configuration") :]
    names = [
        str((field.json_schema_extra or {}).get("env"))  # type: ignore[union-attr]
        for field in Settings.model_fields.values()
    ]
    missing = [name for name in names if f"`{name}`" not in table]
    assert not missing, f"settings missing from README.md's configuration table: {missing}"
