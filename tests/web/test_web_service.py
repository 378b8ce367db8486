"""The dashboard in the service: the web libraries load only with [web] (an analytics service
without it never imports them, checked in a process of its own since this session imports them),
and a dashboard that cannot listen stops the service with the reason."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from tests.alerts.sites import site_toml

ROOT = Path(__file__).resolve().parents[2]
HEAD = 'sites = ["site.toml"]\n\n[mqtt]\nhost = "127.0.0.1"\n'


def test_the_service_without_web_loads_no_web_library(tmp_path: Path) -> None:
    site_toml(tmp_path)
    (tmp_path / "analytics.toml").write_text(HEAD + '\n[store]\npath = "s.sqlite"\n', encoding="utf-8")
    probe = ("import sys, json\nfrom services.analytics.config import load_analytics_config\n"
             "from services.analytics.service import AnalyticsService\n"
             f"AnalyticsService(load_analytics_config({str(tmp_path / 'analytics.toml')!r}))\n"
             "print(json.dumps(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                         timeout=120, check=True)
    modules = set(json.loads(out.stdout.splitlines()[-1]))
    for absent in ("starlette", "uvicorn", "itsdangerous", "jinja2", "services.analytics.web.app"):
        assert absent not in modules, absent


def test_a_dashboard_that_cannot_listen_stops_the_service_with_the_reason(tmp_path: Path) -> None:
    from services.analytics.config import load_analytics_config
    from services.analytics.service import AnalyticsService

    site_toml(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "analytics.toml").write_text(
            HEAD + f'\n[store]\npath = "s.sqlite"\n\n[web]\nlisten = "127.0.0.1:{port}"\n', encoding="utf-8")
        svc = AnalyticsService(load_analytics_config(tmp_path / "analytics.toml"))
        svc.run()  # returns at once: nothing subscribed, nothing started
    assert svc.failed is not None and f"cannot listen on 127.0.0.1:{port} ([web] listen)" in svc.failed
