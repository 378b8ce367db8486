"""The topic tree: ids are single topic levels, the prefix has no wildcards, parse inverts build."""

from __future__ import annotations

import pytest

from core.contract.topics import (
    ParsedTopic,
    TopicError,
    Topics,
    check_prefix,
    check_segment,
    parse,
    readings_filter,
    shared_readings_filter,
)


def test_the_tree() -> None:
    t = Topics("metergate", "campus-a", "gw_1")
    assert t.status == "metergate/v1/campus-a/gw_1/status"
    assert t.health == "metergate/v1/campus-a/gw_1/health"
    assert t.readings("m-01") == "metergate/v1/campus-a/gw_1/meters/m-01/readings"
    assert t.availability("m-01") == "metergate/v1/campus-a/gw_1/meters/m-01/availability"
    assert t.meta("m-01") == "metergate/v1/campus-a/gw_1/meters/m-01/meta"
    assert Topics("acme/energy", "s", "g").status == "acme/energy/v1/s/g/status"


@pytest.mark.parametrize("bad", ["a/b", "a+", "#", "+", "", "a b", "ü", "x" * 65, "a\x00b", "$SYS"])
def test_segments_refuse_anything_but_slugs(bad: str) -> None:
    with pytest.raises(TopicError, match="cannot be a topic level"):
        check_segment(bad, "meter id")
    with pytest.raises(TopicError):
        Topics("metergate", "site", "gw").readings(bad)
    with pytest.raises(TopicError):
        Topics("metergate", bad, "gw")


def test_segment_error_names_the_offending_characters() -> None:
    with pytest.raises(TopicError, match=r"contains '#' '\+' '/'"):
        check_segment("a/b+c#", "meter id")


@pytest.mark.parametrize("good", ["a", "A-Z_09", "x" * 64])
def test_segments_accept_slugs(good: str) -> None:
    assert check_segment(good) == good


@pytest.mark.parametrize("bad", ["", "/metergate", "metergate/", "a//b", "a/+/b", "a/#", "$SYS/x", 7])
def test_prefix(bad: object) -> None:
    with pytest.raises(TopicError, match="topic prefix"):
        check_prefix(bad)
    assert check_prefix("a/b-c/d.e") == "a/b-c/d.e"


def test_parse_inverts_every_topic() -> None:
    t = Topics("acme/mg", "s1", "g1")
    assert parse(t.status, "acme/mg") == ParsedTopic("status", "s1", "g1", None)
    assert parse(t.health, "acme/mg") == ParsedTopic("health", "s1", "g1", None)
    for kind in ("readings", "availability", "meta"):
        assert parse(t.meter("m1", kind), "acme/mg") == ParsedTopic(kind, "s1", "g1", "m1")


@pytest.mark.parametrize("topic", [
    "other/v1/s/g/status", "metergate/v2/s/g/status", "metergate/v1/s/g/unknown",
    "metergate/v1/s/g/meters/m/unknown", "metergate/v1/s/g/meters/m/readings/extra",
    "metergate/v1/s/g/meters//readings", "metergate/v1/s/g/sensors/m/readings",
])
def test_parse_refuses_foreign_topics(topic: str) -> None:
    with pytest.raises(TopicError):
        parse(topic)


def test_subscription_filters() -> None:
    assert readings_filter() == "metergate/v1/+/+/meters/+/readings"
    assert shared_readings_filter() == "$share/ingest/metergate/v1/+/+/meters/+/readings"
    assert readings_filter("x", site="s1") == "x/v1/s1/+/meters/+/readings"
    with pytest.raises(TopicError):
        readings_filter(site="a/b")
