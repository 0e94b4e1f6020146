"""Email settings (CONTRACT §2 `SMTP_URL`, `SMTP_FROM`; `LINK_SECRET`) and link tokens."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_config
from notifications.email_transport import SmtpSettings
from notifications.links import LinkSigner, derive_key


def config(**env: str):  # type: ignore[no-untyped-def]
    return load_config(_env_file=None, **env)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SMTP_URL": "http://mail.example.com"}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://"}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://u:hunter2@mail.example.com:port"}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://mail.example.com", "SMTP_FROM": "nobody"}, "SMTP_FROM"),
    ],
)
def test_a_malformed_email_setting_stops_run_naming_it(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as refused:
        config(**env).check_for_run()
    assert str(refused.value).startswith(f"{variable}:")
    assert "hunter2" not in str(refused.value)  # a secret never appears


def test_smtp_url_forms_and_the_default_sender() -> None:
    plain = SmtpSettings.from_url("smtp://u%40x:p%3Aw@mail.example.com:2525", "a@b.c")
    assert (plain.host, plain.port, plain.implicit_tls) == ("mail.example.com", 2525, False)
    assert (plain.username, plain.password) == ("u@x", "p:w")
    tls = SmtpSettings.from_url("smtps://mail.example.com", "a@b.c")
    assert (tls.port, tls.implicit_tls, tls.username) == (465, True, None)
    assert config(PUBLIC_URL="https://dispatch.example.com").smtp_sender == (
        "dispatch@dispatch.example.com"
    )
    assert config(SMTP_FROM="jobs@example.com").smtp_sender == "jobs@example.com"
    assert "secretpw" not in repr(config(SMTP_URL="smtp://u:secretpw@h", LINK_SECRET="s3cr3t"))
    assert "s3cr3t" not in repr(config(LINK_SECRET="s3cr3t"))


def test_email_requests_need_a_secret_to_sign_links_with() -> None:
    assert not config(SMTP_URL="smtp://h").email_requests_enabled
    assert config(SMTP_URL="smtp://h", API_TOKEN="t").email_requests_enabled
    assert config(SMTP_URL="smtp://h", LINK_SECRET="l").link_secret_value == "l"
    assert config(LINK_SECRET="l", API_TOKEN="t").link_secret_value == "l"
    assert not config(API_TOKEN="t").email_requests_enabled  # no SMTP_URL


def test_a_token_names_one_request_and_action_under_one_key() -> None:
    links = LinkSigner(derive_key("k"), "https://d.example.com/")
    token = links.token(42, "accept")
    assert links.check(token) == (42, "accept")
    assert links.check(links.token(42, "decline")) == (42, "decline")
    assert links.url(42, "accept") == f"https://d.example.com/r/{token}"
    other = LinkSigner(derive_key("other"), links.base_url)
    assert other.check(token) is None
    request_id, action, sig = token.split(".")
    for forged in (
        f"43.{action}.{sig}",
        f"{request_id}.d.{sig}",
        f"{request_id}.{action}.{sig[:-1]}",
        f"٤٢.{action}.{sig}",  # Arabic-Indic digits are no id
        f"0.{action}.{sig}",
        "",
        "a.b",
    ):
        assert links.check(forged) is None
    # The key for links is not the secret itself.
    assert derive_key("k") != b"k" and len(derive_key("k")) == 32
