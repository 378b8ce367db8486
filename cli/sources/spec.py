"""What `--source` names: a store and how to reach it, from a URL or from the ingest service's config.

URL forms (credentials never in the URL: they come from a file or an environment variable):

    victoria://HOST:PORT[?username=U&password_file=F|password_env=E]
                                                            VictoriaMetrics, /api/v1/export
    influx1://HOST:PORT/DATABASE[?rp=RP&username=U&password_file=F|password_env=E]
                                                            InfluxDB 1.x, InfluxQL /query
    influx2://HOST:PORT?org=ORG&bucket=BUCKET[&token_file=F|token_env=E]
                                                            InfluxDB 2.x, Flux /api/v2/query

`+https` after the scheme (`victoria+https://…`) speaks TLS. An ingest config (`*.toml`) gives its
`[influx]` target; which server that is (`api = "v2"` is written by VictoriaMetrics, InfluxDB 1.8+
and 2.x alike) is asked of the server's `/health` when the source is first read (`resolve`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from cli.sources.errors import SourceError
from core.secrets import Secret

Kind = Literal["victoria", "influxql", "flux", "ingest-v2"]  # ingest-v2: not yet asked which server
SCHEMES: dict[str, Kind] = {"victoria": "victoria", "influx1": "influxql", "influx2": "flux"}
_BASIC = {"username", "password_file", "password_env"}
_QUERY_KEYS = {"victoria": _BASIC, "influxql": {"rp", *_BASIC},
               "flux": {"org", "bucket", "token_file", "token_env"}}


@dataclass(frozen=True)
class Source:
    kind: Kind
    url: str  # http(s)://host:port, no credentials
    name: str  # how messages name it (the URL or the config file; never a secret)
    database: str | None = None  # influxql
    retention_policy: str | None = None  # influxql
    org: str = ""  # flux
    bucket: str | None = None  # flux (and ingest-v2 until resolved)
    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    timeout: float = 60.0
    verify_tls: bool = True
    ca_file: str | None = None


def parse_source(text: str) -> Source:
    """A URL of the forms above, or the path of an ingest config (raises SourceError)."""
    if "://" not in text:
        return from_ingest_config(Path(text))
    parts = urlsplit(text)
    scheme, _, transport = parts.scheme.partition("+")
    if scheme not in SCHEMES or transport not in ("", "https"):
        raise SourceError(text, f"unknown source scheme {parts.scheme!r}: use victoria://, influx1:// "
                                "or influx2:// (each with +https for TLS), or an ingest config file")
    if "@" in parts.netloc:
        raise SourceError(f"{scheme}://…", "give no user or password in the URL (not echoed); use "
                                           "username= with password_file= or password_env=")
    try:
        port = parts.port
    except ValueError as exc:
        raise SourceError(text, str(exc)) from None
    if not parts.hostname or port is None:
        raise SourceError(text, "give the host and port, e.g. victoria://127.0.0.1:8428")
    kind = SCHEMES[scheme]
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    if bool(query.get("username")) != bool(query.get("password_file") or query.get("password_env")):
        raise SourceError(text, "username= and password_file= (or password_env=) go together")
    unknown = set(query) - _QUERY_KEYS[kind]
    if unknown:
        allowed = ", ".join(sorted(_QUERY_KEYS[kind])) or "none"
        raise SourceError(text, f"unknown parameter(s) {', '.join(sorted(unknown))} (allowed: {allowed})")
    url = f"{'https' if transport else 'http'}://{parts.netloc}"
    source = Source(kind, url, text, username=query.get("username"),
                    password=_secret(query, "password", text), token=_secret(query, "token", text))
    if kind == "influxql":
        database = parts.path.strip("/")
        if not database:
            raise SourceError(text, "name the database: influx1://HOST:PORT/DATABASE")
        return replace(source, database=database, retention_policy=query.get("rp"))
    if kind == "flux":
        if not query.get("bucket"):
            raise SourceError(text, "name the bucket: influx2://HOST:PORT?org=ORG&bucket=BUCKET")
        return replace(source, org=query.get("org", ""), bucket=query["bucket"])
    return source


def _secret(query: dict[str, str], what: str, text: str) -> Secret | None:
    file, env = query.get(f"{what}_file"), query.get(f"{what}_env")
    if file and env:
        raise SourceError(text, f"give {what}_file or {what}_env, not both")
    return Secret.from_file(file) if file else Secret.from_env(env) if env else None


def from_ingest_config(path: Path) -> Source:
    """The `[influx]` target of an ingest config: where ingest writes is where we read."""
    from services.ingest.config import IngestConfigError, load_ingest_config

    if not path.is_file():
        raise SourceError(path, "no such file (give an ingest config, or a URL such as "
                                "victoria://127.0.0.1:8428)")
    try:
        target = load_ingest_config(path, require_env_secrets=False).influx
    except IngestConfigError as exc:
        raise SourceError(path, "\n".join(str(p) for p in exc.problems) or str(exc)) from None
    base = Source("ingest-v2", target.url, f"{path} ({target.describe()})", username=target.username,
                  password=target.password(), token=target.token(), timeout=max(target.timeout_s, 60.0),
                  verify_tls=target.verify_tls, ca_file=target.ca_file)
    if target.api == "v1":
        return replace(base, kind="influxql", database=target.database,
                       retention_policy=target.retention_policy)
    return replace(base, org=target.org, bucket=target.bucket)


def resolved(source: Source, health: dict[str, object] | None) -> Source:
    """An ingest-v2 source made concrete by the server's /health answer (None: not JSON, which is
    VictoriaMetrics' plain "OK")."""
    if source.kind != "ingest-v2":
        return source
    if health is None:
        return replace(source, kind="victoria")
    if str(health.get("version", "")).lstrip("v").startswith("1."):
        # InfluxDB 1.8+: bucket "db/rp"; read through InfluxQL, user:password as for its writes
        db, _, rp = (source.bucket or "").partition("/")
        return replace(source, kind="influxql", database=db, retention_policy=rp or None)
    return replace(source, kind="flux")


__all__ = ["SCHEMES", "Kind", "Source", "from_ingest_config", "parse_source", "resolved"]
