"""The upstream providers of ``TEKCIFY_SOCIAL_PROVIDERS_FILE``: presets, generic OpenID
providers, and start-up errors that name the setting, the table and the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tekcify_auth.server.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def load(tmp_path: Path, text: str, **env: str) -> object:
    path = tmp_path / "providers.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings({"TEKCIFY_SOCIAL_PROVIDERS_FILE": str(path), **env})


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(SettingsError) as refused:
        load(tmp_path, text)
    [problem] = refused.value.problems
    assert problem.startswith("TEKCIFY_SOCIAL_PROVIDERS_FILE="), problem
    return problem


def test_the_readme_example_configures_the_presets_and_a_generic_provider(
    tmp_path: Path,
) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme[readme.index("### Social sign-in"):]
    example = re.search(r"```toml\n(.*?)```", section, re.S)
    assert example
    secrets = {f"{name}_CLIENT_SECRET": "s3cret" for name in ("GOOGLE", "MICROSOFT", "GITHUB",
                                                               "CORP")}
    settings = load(tmp_path, example.group(1), **secrets)
    providers = {p.name: p for p in settings.social_providers}  # type: ignore[attr-defined]
    assert list(providers) == ["google", "microsoft", "github", "corp"]
    assert providers["google"].discovery_url == (
        "https://accounts.google.com/.well-known/openid-configuration"
    )
    assert providers["microsoft"].discovery_url == (
        "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
    )
    assert providers["microsoft"].multi_tenant
    assert providers["github"].kind == "github"
    assert providers["corp"].display_name == "Corp SSO"
    assert providers["corp"].client_secret == "s3cret"
    assert "s3cret" not in repr(providers["corp"])


def test_without_the_file_there_is_no_provider() -> None:
    assert load_settings({}).social_providers == ()


@pytest.mark.parametrize(("text", "words"), [
    ('[providers.corp]\nclient_id = "x"\nclient_secret = "y"\n',
     "[providers.corp]: give discovery_url"),
    ('[providers.google]\nclient_secret = "y"\n', "client_id must be a non-empty string"),
    ('[providers.corp]\ndiscovery_url = "http://sso.example.com/x"\nclient_id = "x"\n'
     'client_secret = "y"\n', "must be an https:// URL"),
    ('[providers.google]\nclient_id = "x"\nclient_secret_env = "NOT_SET_ANYWHERE_42"\n',
     "client_secret_env names NOT_SET_ANYWHERE_42, which is not set"),
    ('[providers.google]\nclient_id = "x"\nclient_secret = "y"\nclient_sercet = "z"\n',
     "'client_sercet' is not a setting"),
    ('[providers."Bad Name"]\nclient_id = "x"\nclient_secret = "y"\n', "a provider's name"),
    ('[providers.google]\nclient_id = "x"\nclient_secret = "y"\ntenant = "t"\n',
     "tenant is for the microsoft preset only"),
    ('[providers.github]\nclient_id = "x"\nclient_secret = "y"\n'
     'github_url = "http://github.example.com"\n', "github_url must be an https:// URL"),
    ("[scopes]\n", "the file holds [providers.NAME] tables"),
    ("[providers\n", "not valid TOML"),
])
def test_a_bad_providers_file_stops_the_start_saying_where(
    tmp_path: Path, text: str, words: str
) -> None:
    assert words in refusal(tmp_path, text)
