"""The three configs with an [mqtt] table — the site's (gateway), ingest's and the analytics
service's — go through one loader (core.mqtt_config): a TLS file that is missing, a folder or a
password written into the config are refused by each with the same key, line and words, and a
relative path starts at the config file's folder, never at the working directory."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from core.problems import ConfigError, Problem
from services.analytics.config import load_analytics_config
from services.ingest.config import load_ingest_config
from site_config import load_site_config
from tests.alerts.sites import site_toml

MQTT = '[mqtt]\nhost = "127.0.0.1"\nclient_id = "c1"\n'


def _site(folder: Path, mqtt: str) -> Path:
    path = site_toml(folder, name="site.toml")
    path.write_text(path.read_text(encoding="utf-8") + "\n" + mqtt, encoding="utf-8")
    return path


def _ingest(folder: Path, mqtt: str) -> Path:
    path = folder / "ingest.toml"
    path.write_text('[influx]\nurl = "http://127.0.0.1:8428"\nbucket = "x"\n\n' + mqtt, encoding="utf-8")
    return path


def _analytics(folder: Path, mqtt: str) -> Path:
    site_toml(folder, name="plain-site.toml")
    path = folder / "analytics.toml"
    path.write_text('sites = ["plain-site.toml"]\n\n' + mqtt, encoding="utf-8")
    return path


LOADERS: dict[str, tuple[Callable[[Path, str], Path], Callable[[Path], object]]] = {
    "site": (_site, lambda p: load_site_config(p, require_env_secrets=False)),
    "ingest": (_ingest, lambda p: load_ingest_config(p, require_env_secrets=False)),
    "analytics": (_analytics, lambda p: load_analytics_config(p, require_secrets=False)),
}


def _problems(kind: str, folder: Path, mqtt: str) -> tuple[Path, list[Problem]]:
    write, load = LOADERS[kind]
    path = write(folder, mqtt)
    with pytest.raises(ConfigError) as e:
        load(path)
    return path, e.value.problems


def _the(problems: list[Problem], key: str) -> Problem:
    found = [p for p in problems if p.key == key]
    assert len(found) == 1, problems
    return found[0]


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_a_missing_ca_file_is_refused_the_same_way_everywhere(kind: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    # a file of that name in the working directory must not be taken for it
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    (elsewhere / "ca.pem").write_text("not the config's", encoding="utf-8")
    monkeypatch.chdir(elsewhere)
    path, problems = _problems(kind, folder, MQTT + '\n[mqtt.tls]\nca_file = "ca.pem"\n')
    p = _the(problems, "mqtt.tls.ca_file")
    assert p.file == str(path)
    assert p.line == path.read_text(encoding="utf-8").splitlines().index('ca_file = "ca.pem"') + 1
    assert p.message == (f"{folder / 'ca.pem'} does not exist; give the path of the PEM file "
                         "(relative paths start at the config file's folder)")


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_a_folder_given_as_the_ca_file_is_refused(kind: str, tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    _, problems = _problems(kind, tmp_path, MQTT + '\n[mqtt.tls]\nca_file = "certs"\n')
    assert _the(problems, "mqtt.tls.ca_file").message.startswith(f"{tmp_path / 'certs'} is a directory")


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_a_ca_file_next_to_the_config_is_used(kind: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    monkeypatch.chdir(os.path.dirname(tmp_path))
    write, load = LOADERS[kind]
    cfg = load(write(tmp_path, MQTT + '\n[mqtt.tls]\nca_file = "ca.pem"\n'))
    tls = cfg.mqtt.tls  # type: ignore[attr-defined]
    assert Path(tls.ca_file) == tmp_path / "ca.pem"


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_a_password_in_the_config_is_refused_with_where_it_belongs(kind: str, tmp_path: Path) -> None:
    _, problems = _problems(kind, tmp_path, MQTT + 'username = "u"\npassword = "hunter2"\n')
    p = _the(problems, "mqtt.password")
    assert "never write the password into the config" in p.message
    assert "password_file" in p.message and "password_env" in p.message
    assert "hunter2" not in p.message


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_password_file_and_env_together_are_refused(kind: str, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("x", encoding="utf-8")
    (tmp_path / "pw").chmod(0o600)
    _, problems = _problems(kind, tmp_path, MQTT + 'username = "u"\npassword_file = "pw"\n'
                                                   'password_env = "NOPE"\n')
    assert _the(problems, "mqtt.password_env").message == "give password_file or password_env, not both"
