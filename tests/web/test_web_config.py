"""[web] of the analytics config, the users file and `metergate web-user add`: every mistake named
by file, line and key; hashes, never passwords, in the file; the commented example valid."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from services.analytics.config import AnalyticsConfigError, load_analytics_config
from services.analytics.web.auth import UsersFileError, add_user, check_login, load_users, verify_password
from tests.alerts.sites import site_toml

ROOT = Path(__file__).resolve().parents[2]
HEAD = 'sites = ["site.toml"]\n\n[mqtt]\nhost = "127.0.0.1"\n'


def _load(tmp_path: Path, web: str) -> object:
    site_toml(tmp_path)
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(HEAD + "\n[web]\n" + web, encoding="utf-8")
    return load_analytics_config(cfg)


def _problems(tmp_path: Path, web: str) -> dict[str, tuple[int | None, str]]:
    with pytest.raises(AnalyticsConfigError) as e:
        _load(tmp_path, web)
    return {p.key: (p.line, p.message) for p in e.value.problems}


def test_defaults_loopback_read_only(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "")
    web = cfg.web  # type: ignore[attr-defined]
    assert (web.host, web.port, web.users_file, web.session_secret, web.secure_cookies) == \
        ("127.0.0.1", 8088, None, None, False)
    assert web.url == "http://127.0.0.1:8088/" and web.session_max_age_s == 8 * 3600
    site_toml(tmp_path)
    (tmp_path / "plain.toml").write_text(HEAD, encoding="utf-8")
    assert load_analytics_config(tmp_path / "plain.toml").web is None  # off unless configured


def test_every_mistake_names_file_line_and_key(tmp_path: Path) -> None:
    found = _problems(tmp_path, 'listen = "0.0.0.0:8088"\nusers_file = "nobody.toml"\n'
                                'session_secret = "hunter2"\nsession_max_age = "soon"\n'
                                'tls_cert_file = "web.pem"\ncolour = "blue"\n')
    assert found["web.listen"][0] == 7 and "not a loopback address" in found["web.listen"][1]
    assert "metergate web-user add" in found["web.users_file"][1]
    assert "never write the secret" in found["web.session_secret"][1]
    assert "duration" in found["web.session_max_age"][1]
    assert "together" in found["web.tls_key_file"][1] and "does not exist" in found["web.tls_cert_file"][1]
    assert "web.colour" in found
    assert "HOST:PORT" in _problems(tmp_path, 'listen = "8088"\n')["web.listen"][1]


def test_a_remote_listen_is_allowed_only_on_purpose(tmp_path: Path) -> None:
    cfg = _load(tmp_path, 'listen = "0.0.0.0:8443"\nallow_remote = true\n')
    assert cfg.web.host == "0.0.0.0"  # type: ignore[attr-defined]


def test_the_session_secret_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s" * 40, encoding="utf-8")
    secret.chmod(0o600)
    cfg = _load(tmp_path, 'session_secret_file = "secret"\n')
    assert cfg.web.session_secret.reveal() == "s" * 40  # type: ignore[attr-defined]
    assert "web.session_secret_env" in _problems(tmp_path, 'session_secret_env = "NO_SUCH_VARIABLE_X"\n'
                                                       'session_secret_file = "secret"\n')


def test_users_file_keeps_hashes_only(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    assert add_user(users, "wang", "correct horse battery")
    assert not add_user(users, "wang", "another good password")  # replaced
    text = users.read_text(encoding="utf-8")
    assert "correct horse" not in text and "another good" not in text
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
    assert check_login(users, "wang", "another good password")
    assert not check_login(users, "wang", "correct horse battery")
    assert not check_login(users, "li", "another good password")
    assert not verify_password("x", "md5$abc")
    with pytest.raises(UsersFileError, match="at least 10"):
        add_user(users, "li", "short")
    with pytest.raises(UsersFileError, match="user name"):
        add_user(users, "bad name", "long enough password")
    users.write_text('[users.li]\nhash = "plain"\n', encoding="utf-8")
    with pytest.raises(UsersFileError, match=r"users\.li"):
        load_users(users)


def test_web_user_add_prompts_twice(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    result = CliRunner().invoke(app, ["web-user", "add", "--file", str(users), "zhang"],
                                input="a long password\na long password\n")
    assert result.exit_code == 0, result.output
    assert check_login(users, "zhang", "a long password")
    result = CliRunner().invoke(app, ["web-user", "add", "--file", str(users), "li"],
                                input="short\nshort\n")
    assert result.exit_code == 2 and "at least 10" in result.output


def test_the_commented_example_is_valid_once_uncommented(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "config/examples/analytics.toml").read_text(encoding="utf-8")
    block = re.search(r"^# --- dashboard ---\n(.*?)^# --- end of dashboard ---$", text,
                      re.MULTILINE | re.DOTALL)
    assert block, "the example has no dashboard block"
    active = "\n".join(re.sub(r"^# ?", "", ln) for ln in block.group(1).splitlines())
    users = tmp_path / "web-users.toml"
    add_user(users, "wang", "correct horse battery")
    example = text.replace(block.group(0), active.replace("/etc/metergate/web-users.toml", str(users)))
    monkeypatch.setenv("METERGATE_WEB_SESSION_SECRET", "x" * 40)
    cfg = ROOT / "config/examples" / f".uncommented-web-{tmp_path.name}.toml"  # its sites resolve
    cfg.write_text(example, encoding="utf-8")
    try:
        loaded = load_analytics_config(cfg)
    finally:
        cfg.unlink()
    assert loaded.web is not None and loaded.web.users_file == users and loaded.web.lang == "zh"



def test_tls_makes_the_session_cookie_secure(tmp_path: Path) -> None:
    for name in ("web.pem", "web-key.pem"):
        (tmp_path / name).write_text("-----BEGIN-----\n", encoding="utf-8")  # only their presence is checked
    web = _load(tmp_path, 'tls_cert_file = "web.pem"\ntls_key_file = "web-key.pem"\n').web  # type: ignore[attr-defined]
    assert web.secure_cookies and web.url == "https://127.0.0.1:8088/"
    proxied = _load(tmp_path, "secure_cookies = true\n").web  # type: ignore[attr-defined]
    assert proxied.secure_cookies and proxied.url.startswith("http://")


def test_both_languages_have_every_word() -> None:
    from services.analytics.web.words import words

    assert set(words("zh")) == set(words("en"))
    used = set()
    for template in (ROOT / "services/analytics/web/templates").glob("*.j2"):
        used |= set(re.findall(r"\bw\.(\w+)", template.read_text(encoding="utf-8")))
    assert used and used <= set(words("en")), used - set(words("en"))
    assert not used & set(dir(dict)), "a label named like a dict method reads as the method"
