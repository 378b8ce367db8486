"""The dashboard's Starlette app: read-only pages for everyone, acknowledging after a login.

Sessions are signed cookies (Starlette's SessionMiddleware, itsdangerous): HttpOnly, SameSite=Strict,
Secure when `secure_cookies` (TLS, or a TLS reverse proxy). Every POST carries the session's CSRF
token in its form (checked with compare_digest). An ack is handed to the service's main thread
(`acker`), which applies it exactly as an ack from the MQTT command topic, with the logged-in user
as `by`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from analytics.alerts import Change
from reports import formatting
from services.analytics.web import data
from services.analytics.web.auth import check_login
from services.analytics.web.config import WebSettings
from services.analytics.web.svg import bar_chart
from services.analytics.web.words import words

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
MAX_FORM_BYTES = 16 * 1024
ACK_WAIT_S = 10.0
FAILED_LOGIN_DELAY_S = 1.0  # slows guessing; the scrypt check itself costs ~50 ms
HEADERS = {
    # no script, no outside resource: the pages need nothing but themselves
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Acker = Callable[[str, str, str, str | None], "Future[Change | None]"]


def create_app(settings: WebSettings, store_path: Path, sites: list[data.SiteView], acker: Acker,
               secret_key: str) -> Starlette:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    w = words(settings.lang)
    by_id = {s.id: s for s in sites}
    env.globals.update(w=w, fmt=formatting.fmt, indicator=formatting.indicator,
                       coverage=formatting.coverage, AMOUNT=formatting.AMOUNT, SHARE=formatting.SHARE,
                       quote=lambda s: quote(s, safe=""), lang=settings.lang, MISSING=formatting.MISSING,
                       read_only=settings.users_file is None)

    def local_time(ns: int | None, site: str) -> str:
        if ns is None:
            return formatting.MISSING
        return datetime.fromtimestamp(ns / 1e9, by_id[site].tz).strftime("%Y-%m-%d %H:%M")

    env.globals["local_time"] = local_time

    def page(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = env.get_template(template).render(user=request.session.get("user"), csrf=_csrf(request),
                                                  path=request.url.path, **ctx)
        return HTMLResponse(html, status, headers=HEADERS)

    def refuse(request: Request, status: int, why: str) -> HTMLResponse:
        return page(request, "message.j2", status, title=w["refused"], message=why)

    def fleet(request: Request) -> HTMLResponse:
        with data.Reader(store_path) as r:
            rows = data.institution_rows(sites, r)
        return page(request, "fleet.j2", rows=rows, title=w["fleet"])

    def institution(request: Request) -> HTMLResponse:
        site = by_id.get(request.path_params["site"])
        name = request.path_params["name"]
        if site is None:
            return refuse(request, 404, f"{w['site']}: {request.path_params['site']}")
        with data.Reader(store_path) as r:
            summary = r.summary(site.id)
            inst = summary.get("institutions", {}).get(name)
            if inst is None and name != site.institution:
                return refuse(request, 404, f"{w['institution']}: {name}")
            members = set(inst["buildings"]) if inst else {b.id for b in site.buildings}
            closed = r.closed_day(site.id)
            year = closed.year if closed else datetime.now(site.tz).year
            s = data.series(site, r, members, year, closed)
            alerts = [a for a in r.active(site.id) if data.alert_building(a, site) in members]
        every = max(1, len(s["days"]) // 12)
        charts = [
            bar_chart([d[5:] for d in s["days"]], s["electricity"], axis=w["energy_axis"],
                      title=w["electricity_daily"], css_id="chart-electricity-daily", every=every),
            bar_chart([m for m, _ in s["months"]], [v for _, v in s["months"]], axis=w["energy_axis"],
                      title=w["electricity_monthly"], css_id="chart-electricity-monthly"),
        ]
        if any(v is not None for v in s["water"]):
            charts.append(bar_chart([d[5:] for d in s["days"]], s["water"], axis=w["water_axis"],
                                    title=w["water_daily"], css_id="chart-water-daily", every=every))
        buildings = [(b, summary.get("buildings", {}).get(b.id, {})) for b in site.buildings
                     if b.id in members]
        quota = [q for q in summary.get("quota", []) if q["building"] in members]
        return page(request, "institution.j2", title=name, site=site, name=name, ytd=inst or {},
                    day=summary.get("day"), buildings=buildings, series=s, charts=charts, quota=quota,
                    alerts=alerts)

    def alerts(request: Request) -> HTMLResponse:
        with data.Reader(store_path) as r:
            rows = [(s, a) for s in sites for a in r.active(s.id)]
        return page(request, "alerts.j2", title=w["alerts_page"], rows=rows)

    def meters(request: Request) -> HTMLResponse:
        now = time.time_ns()
        with data.Reader(store_path) as r:
            rows = [row for s in sites for row in data.meter_rows(s, r, now, settings.offline_after_s)]
        return page(request, "meters.j2", title=w["meters_page"], rows=rows,
                    offline_after=settings.offline_after_s)

    async def ack(request: Request) -> Response:
        form = await _form(request)
        user = request.session.get("user")
        if not user:
            return refuse(request, 403, w["not_logged_in"])
        if not _csrf_ok(request, form):
            return refuse(request, 403, w["csrf"])
        site = request.path_params["site"]
        if site not in by_id:
            return refuse(request, 404, f"{w['site']}: {site}")
        note = form.get("note", "").strip()[:1000] or None
        future = acker(site, request.path_params["alert_id"], user, note)
        try:
            change = await asyncio.wait_for(asyncio.wrap_future(future), ACK_WAIT_S)
        except TimeoutError:  # the main loop is busy (a long catch-up) or stopping: it may still apply it
            return refuse(request, 503, w["ack_busy"])
        if change is None:
            return refuse(request, 409, w["ack_refused"])
        log.info("alert %s acknowledged by %s from the dashboard", change.alert.id, user)
        return RedirectResponse("/alerts", 303, headers=HEADERS)

    async def login_form(request: Request) -> HTMLResponse:
        return page(request, "login.j2", title=w["login"], error=None, next=_next(request.query_params))

    async def login(request: Request) -> Response:
        form = await _form(request)
        if not _csrf_ok(request, form):
            return refuse(request, 403, w["csrf"])
        if settings.users_file is None:
            return refuse(request, 403, w["read_only"])
        name, password = form.get("user", ""), form.get("password", "")
        if not await run_in_threadpool(check_login, settings.users_file, name, password):
            log.warning("dashboard: failed login for %r from %s", name[:64],
                        request.client.host if request.client else "?")
            await asyncio.sleep(FAILED_LOGIN_DELAY_S)
            return page(request, "login.j2", 401, title=w["login"], error=w["bad_login"],
                        next=_next(form))
        request.session.clear()  # a new session: a token seen before the login is no use after it
        request.session.update(user=name, csrf=secrets.token_urlsafe(32))
        return RedirectResponse(_next(form), 303, headers=HEADERS)

    async def logout(request: Request) -> Response:
        form = await _form(request)
        if not _csrf_ok(request, form):
            return refuse(request, 403, w["csrf"])
        request.session.clear()
        return RedirectResponse("/", 303, headers=HEADERS)

    css = (HERE / "static" / "style.css").read_bytes()

    async def style(request: Request) -> Response:
        return Response(css, media_type="text/css", headers={**HEADERS, "Cache-Control": "max-age=3600"})

    routes = [
        Route("/", fleet), Route("/institution/{site}/{name:path}", institution),
        Route("/alerts", alerts), Route("/alerts/{site}/{alert_id}/ack", ack, methods=["POST"]),
        Route("/meters", meters), Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]), Route("/logout", logout, methods=["POST"]),
        Route("/static/style.css", style),
    ]
    middleware = [Middleware(SessionMiddleware, secret_key=secret_key, session_cookie="metergate_session",
                             max_age=settings.session_max_age_s, same_site="strict",
                             https_only=settings.secure_cookies)]
    return Starlette(routes=routes, middleware=middleware)


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def _csrf_ok(request: Request, form: dict[str, str]) -> bool:
    want, got = request.session.get("csrf"), form.get("csrf", "")
    return bool(want) and bool(got) and hmac.compare_digest(str(want), got)


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form (the only kind the pages send), first value of each field; a bigger
    body or another type is read as an empty form (and so refused by the CSRF check)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in parsed.items()}


def _next(params: Any) -> str:
    """Where to go after the login: a local path only (never another site)."""
    target = str(params.get("next", "") or "/alerts")
    local = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if local else "/alerts"


__all__ = ["create_app"]
