"""Site config: the example loads; every kind of mistake is reported at once with file, line and key;
secrets never show; the airtime budget; `metergate validate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.commands.validate import validate
from core.secrets import SecretUnavailable
from core.toml_lines import key_lines, line_of
from core.units import format_duration, parse_poll_interval, parse_size
from drivers.profiles import BUNDLED_PROFILES
from drivers.transport import RtuOverTcpEndpoint, SerialEndpoint, TcpEndpoint
from drivers.wiretime import read_airtime
from gateway.outbox import DEFAULT_MAX_BYTES
from site_config import ConfigError, Problem, Secret, SiteConfig, bus_utilisation, load_site_config
from site_config.airtime import verdict

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "campus.toml"
PROFILES = [BUNDLED_PROFILES]

BASE = """
[site]
id = "test-site"
name = "Test site"

[[buildings]]
id = "b1"
name = "B1"
category = "office"
floor_area_m2 = 1000
occupants = 50

[[buses]]
id = "rs1"
type = "serial"
device = "/dev/null"

[[meters]]
id = "m1"
profile = "eastron-sdm630"
unit = 1
bus = "rs1"
building = "b1"
subitem = "hvac"
"""


def write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> SiteConfig:
    return load_site_config(write(tmp_path, text), profile_dirs=PROFILES)


def problems(tmp_path: Path, text: str) -> list[Problem]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_site_config(path, profile_dirs=PROFILES)
    assert info.value.path == str(path)
    for p in info.value.problems:
        assert p.file == str(path)
    return info.value.problems


def line_with(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle`."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def only(found: list[Problem], key: str) -> Problem:
    matching = [p for p in found if p.key == key]
    assert len(matching) == 1, [str(p) for p in found]
    return matching[0]


# ---------------------------------------------------------------------------------------------------
# the example


@pytest.fixture
def mqtt_password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("METERGATE_MQTT_PASSWORD", "s3cret-example")
    return "s3cret-example"


def test_example_campus_loads_with_every_kind_of_meter_and_bus(mqtt_password: str) -> None:
    config = load_site_config(EXAMPLE, profile_dirs=PROFILES)
    # the example's serial ports do not exist on this machine: warned about, nothing else
    serial = [(i, b) for i, b in enumerate(config.buses) if b.type == "serial"]
    assert serial
    assert [(w.key, w.severity) for w in config.warnings] == [
        (f"buses[{i}] (id {b.id!r}).device", "warning") for i, b in serial]
    assert len(config.buildings) >= 3
    assert len(config.meters) >= 12
    assert {m.kind for m in config.meters} == {"electricity", "water", "heat", "heat_pump"}
    profiles = {m.variant.profile_id for m in config.meters}
    assert profiles == {"chint-dtsu666", "eastron-sdm630", "eastron-sdm120", "acrel-adw300",
                        "tuf-2000m", "kamstrup-multical", "lambda-eu-l"}
    endpoints = {type(b.endpoint) for b in config.buses}
    assert endpoints == {SerialEndpoint, TcpEndpoint, RtuOverTcpEndpoint}
    assert sum(isinstance(b.endpoint, RtuOverTcpEndpoint) for b in config.buses) == 1
    # every meter's bus and building exist
    for meter in config.meters:
        config.bus(meter.bus)
        config.building(meter.building)
    assert config.site.gateway_id == "hillside-gw1"
    assert config.mqtt is not None and config.mqtt.password is not None
    assert config.mqtt.password.reveal() == mqtt_password
    assert mqtt_password not in repr(config)


def test_example_poll_groups_compile_to_intervals_and_points(mqtt_password: str) -> None:
    config = load_site_config(EXAMPLE, profile_dirs=PROFILES)
    main = next(m for m in config.meters if m.id == "admin-main")
    assert main.variant.key == "chint-dtsu666:huawei"
    assert [(g.interval_s, g.quantities[:1]) for g in main.poll] == [
        (1.0, ("power_active",)), (15.0, ("voltage_l1",)), (60.0, ("wiring_mode",))]
    everything = [q for g in main.poll for q in g.quantities]
    assert sorted(everything) == sorted(p.quantity for p in main.variant.points)  # "*" = the rest
    assert all(p.quantity == q for g in main.poll for p, q in zip(g.points, g.quantities, strict=True))
    lab = next(m for m in config.meters if m.id == "teach-lab")  # no poll: every point at 1m
    assert len(lab.poll) == 1 and lab.poll[0].interval_s == 60.0
    assert len(lab.poll[0].points) == len(lab.variant.points)


def test_example_every_serial_line_has_room(mqtt_password: str) -> None:
    config = load_site_config(EXAMPLE, profile_dirs=PROFILES)
    for bus in config.buses:
        utilisation, detail = bus_utilisation(bus, config.meters)
        assert len(detail) == sum(len(m.poll) for m in config.meters_on(bus.id))
        if bus.wire is None:
            assert utilisation is None
        else:
            assert utilisation is not None and 0 < utilisation < 0.7, bus.id


# ---------------------------------------------------------------------------------------------------
# each kind of mistake: file, line and key


def test_unknown_profile_names_the_meter_and_close_names(tmp_path: Path) -> None:
    text = BASE.replace('profile = "eastron-sdm630"', 'profile = "eastron-sdm63"')
    p = only(problems(tmp_path, text), "meters[0] (id 'm1').profile")
    assert p.line == line_with(text, "eastron-sdm63")
    assert "did you mean eastron-sdm630" in p.message
    assert str(p).startswith(f"{tmp_path / 'site.toml'}:{p.line}: meters[0] (id 'm1').profile: ")


def test_unknown_variant_lists_the_variants(tmp_path: Path) -> None:
    text = BASE.replace('profile = "eastron-sdm630"', 'profile = "chint-dtsu666:huawai"')
    p = only(problems(tmp_path, text), "meters[0] (id 'm1').profile")
    assert "no variant 'huawai'" in p.message and "huawei" in p.message


def test_unknown_quantity_in_a_poll_group(tmp_path: Path) -> None:
    text = BASE + ('poll = [\n    { interval = "1s", quantities = ["power_active"] },\n'
                   '    { interval = "1m", quantities = ["voltage_l1", "power_actve"] },\n]\n')
    p = only(problems(tmp_path, text), "meters[0] (id 'm1').poll[1].quantities[1]")
    assert p.line == line_with(text, "power_actve")
    assert "'power_actve' is not a point of eastron-sdm630:default" in p.message
    assert "did you mean power_active" in p.message


def test_a_quantity_may_be_in_one_group_only(tmp_path: Path) -> None:
    text = BASE + ('poll = [{ interval = "1s", quantities = ["power_active"] },\n'
                   '        { interval = "1m", quantities = ["power_active"] }]\n')
    p = only(problems(tmp_path, text), "meters[0] (id 'm1').poll[1].quantities[0]")
    assert "already polled by poll[0]" in p.message
    assert p.line == line_with(text, '"1m"')


def test_duplicate_unit_on_a_bus(tmp_path: Path) -> None:
    text = BASE + ('\n[[meters]]\nid = "m2"\nprofile = "eastron-sdm120"\nunit = 1\nbus = "rs1"\n'
                   'building = "b1"\nsubitem = "lighting_sockets"\n')
    p = only(problems(tmp_path, text), "meters[1] (id 'm2').unit")
    assert p.line == line_with(text, "unit = 1", 2)
    assert "unit 1 on bus 'rs1' is already used by meters[0] (id 'm1')" in p.message
    assert f"(line {line_with(text, 'unit = 1')})" in p.message


def test_the_same_unit_on_two_buses_is_fine(tmp_path: Path) -> None:
    text = BASE + ('\n[[buses]]\nid = "rs2"\ntype = "serial"\ndevice = "/dev/ttyUSB1"\n'
                   '\n[[meters]]\nid = "m2"\nprofile = "eastron-sdm630"\nunit = 1\nbus = "rs2"\n'
                   'building = "b1"\nsubitem = "power"\n')
    assert len(load(tmp_path, text).meters) == 2


def test_bus_referenced_but_missing(tmp_path: Path) -> None:
    text = BASE.replace('bus = "rs1"', 'bus = "rs-1"')
    found = problems(tmp_path, text)
    p = only(found, "meters[0] (id 'm1').bus")
    assert p.line == line_with(text, 'bus = "rs-1"')
    assert "no bus with id 'rs-1'; did you mean 'rs1'?" in p.message and "[[buses]]" in p.message


def test_building_referenced_but_missing(tmp_path: Path) -> None:
    text = BASE.replace('building = "b1"', 'building = "b2"')
    p = only(problems(tmp_path, text), "meters[0] (id 'm1').building")
    assert "no building with id 'b2'" in p.message


def test_password_in_the_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    text = BASE + '\n[mqtt]\nhost = "broker"\nusername = "gw"\npassword = "hunter2-secret"\n'
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_site_config(path, profile_dirs=PROFILES)
    p = only(info.value.problems, "mqtt.password")
    assert p.line == line_with(text, "password =")
    assert "password_file" in p.message and "password_env" in p.message
    assert "hunter2" not in str(info.value)


def test_tls_file_missing_names_key_and_path(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    text = BASE + ('\n[mqtt]\nhost = "broker"\n'
                   'tls = { ca_file = "ca.pem", cert_file = "certs/gw.pem", key_file = "certs/gw.key" }\n')
    found = problems(tmp_path, text)
    cert = only(found, "mqtt.tls.cert_file")
    assert cert.line == line_with(text, "tls =")
    assert str(tmp_path / "certs" / "gw.pem") in cert.message and "does not exist" in cert.message
    key = only(found, "mqtt.tls.key_file")
    assert str(tmp_path / "certs" / "gw.key") in key.message
    assert not [p for p in found if p.key == "mqtt.tls.ca_file"]  # relative to the config: exists


def test_tls_files_found_relative_to_the_config_and_port_8883(tmp_path: Path) -> None:
    for name in ("ca.pem", "gw.pem", "gw.key"):
        (tmp_path / name).write_text("pem\n", encoding="utf-8")
    text = BASE + ('\n[mqtt]\nhost = "broker"\n'
                   'tls = { ca_file = "ca.pem", cert_file = "gw.pem", key_file = "gw.key" }\n')
    mqtt = load(tmp_path, text).mqtt
    assert mqtt is not None and mqtt.tls is not None
    assert mqtt.port == 8883 and mqtt.tls.ca_file == tmp_path / "ca.pem"
    assert (mqtt.client_id, mqtt.qos, mqtt.protocol) == ("test-site-gw1", 1, "5")


@pytest.mark.parametrize(("interval", "expect"), [
    ("7s", "does not divide a day evenly"),
    ("50ms", "shorter than 100 ms"),
    ("1 minute", "is not a duration"),
    ("1.0005s", "whole"),
])
def test_bad_interval(tmp_path: Path, interval: str, expect: str) -> None:
    text = BASE + f'poll = [{{ interval = "{interval}", quantities = "*" }}]\n'
    p = only(problems(tmp_path, text), "meters[0] (id 'm1').poll[0].interval")
    assert p.line == line_with(text, "poll =")
    assert expect in p.message


def test_bad_default_interval_is_placed_at_its_key(tmp_path: Path) -> None:
    text = BASE + '\n[defaults]\npoll_interval = "7m"\n'
    p = only(problems(tmp_path, text), "defaults.poll_interval")
    assert p.line == line_with(text, "poll_interval")
    assert '"5m" or "10m"' in p.message


@pytest.mark.parametrize(("table", "typo", "suggestion"), [
    ("[[buses]]", "baudrate = 9600", "'baud'"),
    ("[site]", "timezon = \"UTC\"", "'timezone'"),
    ("[[meters]]", "sub_item = \"hvac\"", "'subitem'"),
])
def test_unknown_key_with_suggestion(tmp_path: Path, table: str, typo: str, suggestion: str) -> None:
    header = BASE.index(table) + len(table)
    text = BASE[:header] + "\n" + typo + BASE[header:]
    found = problems(tmp_path, text)
    key = typo.split(" ", maxsplit=1)[0]
    p = next(p for p in found if p.key.endswith("." + key))
    assert p.line == line_with(text, typo)
    assert p.message == f"unknown key; did you mean {suggestion}?"


def test_unknown_top_level_table(tmp_path: Path) -> None:
    p = only(problems(tmp_path, BASE + "\n[mqt]\nhost = \"x\"\n"), "mqt")
    assert "did you mean 'mqtt'?" in p.message


def test_malformed_toml_reports_its_line(tmp_path: Path) -> None:
    text = BASE.replace('name = "B1"', 'name = "B1')
    found = problems(tmp_path, text)
    assert len(found) == 1
    assert found[0].line == line_with(text, 'name = "B1')
    assert "not valid TOML" in found[0].message
    assert str(found[0]).startswith(f"{tmp_path / 'site.toml'}:{found[0].line}: not valid TOML")


def test_missing_required_key_points_at_the_table_header(tmp_path: Path) -> None:
    text = BASE.replace('occupants = 50\n', "")
    p = only(problems(tmp_path, text), "buildings[0] (id 'b1').occupants")
    assert p.line == line_with(text, "[[buildings]]")
    assert "required key is missing" in p.message


def test_two_buses_on_one_physical_port(tmp_path: Path) -> None:
    text = BASE + '\n[[buses]]\nid = "rs1b"\ntype = "serial"\ndevice = "/dev/null"\nbaud = 2400\n'
    p = only(problems(tmp_path, text), "buses[1] (id 'rs1b').device")
    assert "one physical bus; merge them" in p.message
    text = (BASE + '\n[[buses]]\nid = "gw"\ntype = "tcp"\nhost = "10.0.0.5"\n'
            '\n[[buses]]\nid = "conv"\ntype = "rtu-over-tcp"\nhost = "10.0.0.5"\nport = 502\n')
    p = only(problems(tmp_path, text), "buses[2] (id 'conv').host")
    assert "10.0.0.5:502 is also used by buses[1] (id 'gw')" in p.message


def test_electricity_meter_needs_a_subitem(tmp_path: Path) -> None:
    p = only(problems(tmp_path, BASE.replace('subitem = "hvac"\n', "")), "meters[0] (id 'm1').subitem")
    assert "分项" in p.message


def test_several_mistakes_in_one_file_are_all_reported(tmp_path: Path) -> None:
    text = (BASE.replace('id = "test-site"', 'id = "Test Site"')
                .replace('category = "office"', 'category = "offices"')
                .replace('type = "serial"', 'type = "serial"\nparity = "X"')
            + 'poll = [{ interval = "7s", quantities = ["power_active", "nope"] }]\n'
            + '\n[[meters]]\nid = "m2"\nprofile = "nosuch"\nunit = 1\nbus = "rs9"\nbuilding = "b1"\n'
            + '\n[outbox]\nmax_bytes = "lots"\n')
    found = problems(tmp_path, text)
    keys = {p.key for p in found}
    assert keys >= {
        "site.id", "buildings[0] (id 'b1').category", "buses[0] (id 'rs1').parity",
        "meters[0] (id 'm1').poll[0].interval", "meters[0] (id 'm1').poll[0].quantities[1]",
        "meters[1] (id 'm2').profile", "meters[1] (id 'm2').bus", "outbox.max_bytes",
    }, [str(p) for p in found]
    assert all(p.line is not None for p in found)
    assert [p.line for p in found] == sorted(p.line or 0 for p in found)  # in file order


def test_a_meter_with_a_shape_error_still_gets_its_references_checked(tmp_path: Path) -> None:
    text = BASE.replace("unit = 1", "unit = 300").replace('bus = "rs1"', 'bus = "rs2"')
    keys = {p.key for p in problems(tmp_path, text)}
    assert {"meters[0] (id 'm1').unit", "meters[0] (id 'm1').bus"} <= keys


def test_duplicate_ids(tmp_path: Path) -> None:
    text = BASE + '\n[[buildings]]\nid = "b1"\nname = "again"\ncategory = "school"\n' \
                  'floor_area_m2 = 5\noccupants = 0\n'
    p = only(problems(tmp_path, text), "buildings[1] (id 'b1').id")
    assert "already the id of buildings[0]" in p.message


def test_gateway_id_alerts_is_reserved_for_the_alert_topics(tmp_path: Path) -> None:
    text = BASE.replace('name = "Test site"', 'name = "Test site"\ngateway_id = "alerts"')
    p = only(problems(tmp_path, text), "site.gateway_id")
    assert "reserved for the alert topics" in p.message
    assert p.line == 5  # BASE starts with an empty line


# ---------------------------------------------------------------------------------------------------
# defaults, warnings and compiled values


def test_defaults_are_filled_in(tmp_path: Path) -> None:
    config = load(tmp_path, BASE)
    assert config.site.timezone == "Asia/Shanghai"
    assert config.site.gateway_id == "test-site-gw1"
    assert config.mqtt is None
    assert config.outbox.path == Path("/var/lib/metergate/outbox.sqlite")
    assert config.outbox.max_bytes == DEFAULT_MAX_BYTES
    assert config.health.prometheus_listen == ("127.0.0.1", 9108)
    assert config.health.interval_s == 30.0
    bus = config.buses[0]
    assert bus.endpoint == SerialEndpoint("/dev/null", 9600, "N", 1, 8)
    assert bus.pause_s == 0.005  # 4 characters at 9600 8N1, rounded up to whole ms
    assert 0.3 < bus.timeout_s < 0.6
    meter = config.meters[0]
    assert [g.interval_s for g in meter.poll] == [60.0]


def test_relative_outbox_path_and_sizes(tmp_path: Path) -> None:
    config = load(tmp_path, BASE + '\n[outbox]\npath = "state/outbox.sqlite"\nmax_bytes = "500MB"\n'
                                   '\n[health]\nprometheus_listen = ""\n')
    assert config.outbox.path == tmp_path / "state" / "outbox.sqlite"
    assert config.outbox.max_bytes == 500_000_000
    assert config.health.prometheus_listen is None


def test_outbox_commit_interval(tmp_path: Path) -> None:
    assert load(tmp_path, BASE).outbox.commit_interval_s == 1.0  # the flash-friendly default
    for text, seconds in (('"500ms"', 0.5), ('"2s"', 2.0), ('"0"', 0.0), ('"0s"', 0.0)):
        config = load(tmp_path, BASE + f"\n[outbox]\ncommit_interval = {text}\n")
        assert config.outbox.commit_interval_s == seconds
    for text, words in (('"20s"', "longer than 10 s"), ('"soon"', "not a duration"),
                        ("1", "not a duration")):
        p = only(problems(tmp_path, BASE + f"\n[outbox]\ncommit_interval = {text}\n"),
                 "outbox.commit_interval")
        assert words in p.message


def test_points_in_no_group_are_warned_about(tmp_path: Path) -> None:
    text = BASE + 'poll = [{ interval = "1s", quantities = ["power_active"] }]\n'
    config = load(tmp_path, text)
    assert config.meters[0].poll[0].quantities == ("power_active",)
    (w,) = config.warnings
    assert w.severity == "warning" and w.key == "meters[0] (id 'm1').poll"
    assert "will not be polled" in w.message and "voltage_l1" in w.message


def test_profile_line_settings_differing_from_the_bus_are_warned_about(tmp_path: Path) -> None:
    text = BASE.replace('profile = "eastron-sdm630"', 'profile = "eastron-sdm120"')  # 2400 baud
    (w,) = load(tmp_path, text).warnings
    assert w.key == "meters[0] (id 'm1').profile" and "2400" in w.message


def test_a_profile_file_next_to_the_config(tmp_path: Path) -> None:
    local = tmp_path / "profiles" / "site-sdm630.toml"
    local.parent.mkdir()
    local.write_text((BUNDLED_PROFILES / "eastron-sdm630.toml").read_text(encoding="utf-8"),
                     encoding="utf-8")
    text = BASE.replace('profile = "eastron-sdm630"', 'profile = "profiles/site-sdm630.toml"')
    assert load(tmp_path, text).meters[0].variant.key == "site-sdm630:default"


def test_unit_0_only_on_tcp(tmp_path: Path) -> None:
    p = only(problems(tmp_path, BASE.replace("unit = 1", "unit = 0")), "meters[0] (id 'm1').unit")
    assert "1..247" in p.message
    text = BASE.replace('type = "serial"\ndevice = "/dev/null"', 'type = "tcp"\nhost = "h"')
    assert load(tmp_path, text.replace("unit = 1", "unit = 0")).meters[0].unit == 0


# ---------------------------------------------------------------------------------------------------
# secrets


def test_secret_from_file_never_shows_its_value(tmp_path: Path) -> None:
    secret_file = tmp_path / "mqtt-password"
    secret_file.write_text("pa55word\n", encoding="utf-8")
    secret_file.chmod(0o600)
    text = BASE + '\n[mqtt]\nhost = "broker"\nusername = "gw"\npassword_file = "mqtt-password"\n'
    config = load(tmp_path, text)
    assert config.mqtt is not None and config.mqtt.password is not None
    secret = config.mqtt.password
    assert secret.reveal() == "pa55word"
    for shown in (repr(secret), str(secret), f"{secret}", repr(config.mqtt), repr(config)):
        assert "pa55word" not in shown
    assert str(secret_file) in repr(secret)
    assert config.warnings == ()


def test_secret_file_readable_by_everyone_is_warned_about(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("x", encoding="utf-8")
    (tmp_path / "pw").chmod(0o644)
    config = load(tmp_path, BASE + '\n[mqtt]\nhost = "b"\npassword_file = "pw"\n')
    assert any("readable by every user" in w.message for w in config.warnings)


def test_secret_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG_TEST_PW", "env-pa55")
    config = load(tmp_path, BASE + '\n[mqtt]\nhost = "b"\npassword_env = "MG_TEST_PW"\n')
    assert config.mqtt is not None and config.mqtt.password is not None
    assert config.mqtt.password.reveal() == "env-pa55"
    assert "env-pa55" not in repr(config) and "$MG_TEST_PW" in repr(config.mqtt.password)


def test_missing_secret_is_an_error_or_a_warning_for_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MG_TEST_PW", raising=False)
    text = BASE + '\n[mqtt]\nhost = "b"\npassword_env = "MG_TEST_PW"\n'
    p = only(problems(tmp_path, text), "mqtt.password_env")
    assert "MG_TEST_PW is not set" in p.message
    config = load_site_config(tmp_path / "site.toml", profile_dirs=PROFILES, require_env_secrets=False)
    assert [w.key for w in config.warnings] == ["mqtt.password_env"]
    text = BASE + '\n[mqtt]\nhost = "b"\npassword_file = "/nonexistent/pw"\n'
    p = only(problems(tmp_path, text), "mqtt.password_file")
    assert "/nonexistent/pw does not exist" in p.message
    text = BASE + '\n[mqtt]\nhost = "b"\npassword_file = "a"\npassword_env = "B"\n'
    assert "not both" in only(problems(tmp_path, text), "mqtt.password_env").message


def test_secret_reveal_reads_now() -> None:
    secret = Secret.from_env("MG_SURELY_UNSET_VARIABLE")
    with pytest.raises(SecretUnavailable, match="not set"):
        secret.reveal()
    assert secret == Secret("env", "MG_SURELY_UNSET_VARIABLE")


# ---------------------------------------------------------------------------------------------------
# units, locating keys


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("1s", 1), ("15s", 15), ("1m", 60), ("15m", 900), ("1h", 3600), ("1d", 86400),
    ("2d", 172800), ("1.5s", 1.5), ("90s", 90),
])
def test_poll_intervals(text: str, seconds: float) -> None:
    assert parse_poll_interval(text) == seconds


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0.5, 1, 60, 90, 5400, 86400)] == [
        "500ms", "1s", "1m", "90s", "90m", "1d"]


@pytest.mark.parametrize(("value", "nbytes"), [
    ("2GiB", 2 * 2**30), ("500MB", 500 * 10**6), ("512 KiB", 512 * 1024), (1048576, 1048576),
    ("1.5GiB", 3 * 2**29), ("100B", 100),
])
def test_sizes(value: object, nbytes: int) -> None:
    assert parse_size(value) == nbytes


@pytest.mark.parametrize("value", ["2 gigabytes", -1, 0, True, 1.5, "GiB"])
def test_bad_sizes(value: object) -> None:
    with pytest.raises(ValueError):
        parse_size(value)


def test_key_lines_follow_headers_inline_tables_and_multiline_arrays() -> None:
    text = (
        '[site]\nid = "x"  # comment with = and [brackets]\n'
        'note = """\n[[meters]]\nnot a header\n"""\n'
        '[[meters]]\nid = "a"\n'
        '[[meters]]\nid = "b"\npoll = [\n  { interval = "1s", quantities = ["p", "q"] },\n'
        '  { interval = "1m",\n    quantities = "*" },\n]\n'
        '[mqtt]\ntls = { ca_file = "c" }\n'
    )
    lines = key_lines(text)
    assert lines[("site", "id")] == 2
    assert lines[("meters", 0)] == 7
    assert lines[("meters", 1, "id")] == 10
    assert lines[("meters", 1, "poll", 0, "quantities", 1)] == 12
    assert lines[("meters", 1, "poll", 1, "quantities")] == 14
    assert lines[("mqtt", "tls", "ca_file")] == 17
    assert line_of(lines, ("meters", 1, "unit")) == 9  # missing key: its table's header
    assert line_of(lines, ("nothing",)) is None


# ---------------------------------------------------------------------------------------------------
# airtime


def test_bus_utilisation_is_airtime_over_interval(tmp_path: Path) -> None:
    config = load(tmp_path, BASE + 'poll = [{ interval = "1s", quantities = ["power_active"] },\n'
                                   '        { interval = "1m", quantities = "*" }]\n')
    bus = config.buses[0]
    utilisation, (fast, slow) = bus_utilisation(bus, config.meters)
    expected = read_airtime(2, 9600, 10, 0.05) + bus.pause_s  # one 2-register read, SDM630 50 ms
    assert (fast.requests, fast.registers) == (1, 2)
    assert fast.busy_s == pytest.approx(expected)
    assert slow.requests >= 2 and slow.interval_s == 60.0
    assert utilisation == pytest.approx(expected + (slow.busy_s or 0) / 60)
    assert verdict(utilisation) == "ok"


def test_an_over_subscribed_bus(tmp_path: Path) -> None:
    meters = "".join(
        f'\n[[meters]]\nid = "a{u}"\nprofile = "acrel-adw300"\nunit = {u}\nbus = "slow"\n'
        f'building = "b1"\nsubitem = "power"\npoll = [{{ interval = "1s", quantities = "*" }}]\n'
        for u in range(1, 5))
    text = BASE + '\n[[buses]]\nid = "slow"\ntype = "serial"\ndevice = "/dev/ttyS1"\nbaud = 1200\n' + meters
    config = load(tmp_path, text)
    utilisation, detail = bus_utilisation(config.bus("slow"), config.meters)
    assert utilisation is not None and utilisation > 1.0
    assert verdict(utilisation) == "over" and len(detail) == 4
    tcp = load(tmp_path, BASE.replace('type = "serial"\ndevice = "/dev/null"', 'type = "tcp"\nhost = "h"'))
    assert bus_utilisation(tcp.buses[0], tcp.meters)[0] is None


# ---------------------------------------------------------------------------------------------------
# metergate validate


def cli() -> typer.Typer:
    app = typer.Typer(add_completion=False)
    app.command("validate")(validate)

    @app.command("other")
    def other() -> None:  # a second command keeps `validate` a sub-command, as in cli.main
        pass

    return app


runner = CliRunner()


def test_validate_prints_ok_and_the_bus_table(mqtt_password: str) -> None:
    result = runner.invoke(cli(), ["validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"ok: {EXAMPLE}")
    assert "15 meter(s)" in result.output
    for bus in ("admin-rs485", "substation-converter", "heatpump-gym"):
        assert bus in result.output
    assert mqtt_password not in result.output


def test_validate_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    text = BASE.replace('bus = "rs1"', 'bus = "rs-1"').replace('"eastron-sdm630"', '"sdm630"')
    path = write(tmp_path, text)
    result = runner.invoke(cli(), ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:{line_with(text, 'rs-1')}: meters[0] (id 'm1').bus: no bus" in result.output
    assert f"{path}:{line_with(text, 'sdm630')}: meters[0] (id 'm1').profile" in result.output
    assert "2 problem(s)" in result.output


def test_validate_json(tmp_path: Path, mqtt_password: str) -> None:
    result = runner.invoke(cli(), ["validate", str(EXAMPLE), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["summary"]["meters"] >= 12
    serial = next(b for b in data["summary"]["buses"] if b["id"] == "admin-rs485")
    assert 0 < serial["utilisation"] < 0.7 and serial["requests"] > 0
    bad = write(tmp_path, BASE.replace("unit = 1", "unit = 999"))
    result = runner.invoke(cli(), ["validate", str(bad), "--json"])
    assert result.exit_code == 2
    (error,) = json.loads(result.stdout)["errors"]
    assert error["key"] == "meters[0] (id 'm1').unit" and error["line"] == line_with(BASE, "unit = 1")


def test_validate_warns_about_an_over_subscribed_bus(tmp_path: Path) -> None:
    text = BASE.replace('device = "/dev/null"', 'device = "/dev/null"\nbaud = 1200') + (
        'poll = [{ interval = "500ms", quantities = "*" }]\n')
    path = write(tmp_path, text)
    result = runner.invoke(cli(), ["validate", str(path)])
    assert result.exit_code == 0
    assert "warning: bus 'rs1' is over-subscribed" in result.output


def test_validate_is_reachable_through_gateway_cli(mqtt_password: str) -> None:
    from cli.main import app

    if not any(c.name == "validate" for c in app.registered_commands):
        pytest.skip("validate is not registered in cli/main.py yet")
    result = runner.invoke(app, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------------------------------------------
# upper-case ids (E01, B-3: common in building registers)


def test_upper_case_ids_are_accepted_and_kept(tmp_path: Path) -> None:
    text = (BASE.replace('id = "b1"', 'id = "B-3"').replace('building = "b1"', 'building = "B-3"')
            .replace('id = "m1"', 'id = "E01"').replace('id = "rs1"', 'id = "RS485-1"')
            .replace('bus = "rs1"', 'bus = "RS485-1"').replace('id = "test-site"', 'id = "Hill_Side"'))
    site = load(tmp_path, text)
    assert [m.id for m in site.meters] == ["E01"] and site.meters[0].building == "B-3"
    assert site.buildings[0].id == "B-3" and site.site.id == "Hill_Side"
    out = runner.invoke(cli(), ["validate", str(write(tmp_path, text))])
    assert out.exit_code == 0, out.output
    assert "E01" in out.output or "RS485-1" in out.output


def test_ids_that_differ_only_in_case_are_refused_saying_why(tmp_path: Path) -> None:
    second = BASE[BASE.index("[[meters]]"):].replace('id = "m1"', 'id = "M1"').replace("unit = 1", "unit = 2")
    text = BASE + second
    found = problems(tmp_path, text)
    assert len(found) == 1, [str(p) for p in found]
    p = found[0]
    assert p.key.endswith(".id") and p.key.startswith("meters[1]")
    assert "'M1' differs from 'm1'" in p.message and "only in case" in p.message
    assert "Home Assistant" in p.message


@pytest.mark.parametrize("bad", ["E01\n", "É01", "-E01", "E 01", "E/01", "E+01"])
def test_ids_outside_the_topic_safe_letters_are_refused(tmp_path: Path, bad: str) -> None:
    text = BASE.replace('id = "m1"', f"id = {json.dumps(bad)}")
    found = problems(tmp_path, text)
    assert len(found) == 1, [str(p) for p in found]
    p = found[0]
    assert "is not an id" in p.message and "A-Z, a-z" in p.message
