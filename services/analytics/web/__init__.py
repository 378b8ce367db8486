"""The dashboard of the analytics service (docs/dashboard.md): Starlette pages over the alert store,
served by uvicorn in a thread of the service when `[web]` is configured. Only `config` and `auth` are
imported without the `web` extra (config checking, `metergate web-user`)."""
