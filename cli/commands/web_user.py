"""`metergate web-user add --file USERS NAME`: add (or replace) a dashboard user, asking for the
password twice without echo; the file keeps scrypt hashes only (services/analytics/web/auth.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ActionArg = Annotated[str, typer.Argument(metavar="add", help="What to do: add (or replace) a user.")]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The user name (letters, digits, _.@-).")]
FileOpt = Annotated[Path, typer.Option("--file", help="The users file ([web] users_file); created if "
                                                      "absent, mode 0600.")]


def web_user(action: ActionArg, name: NameArg, file: FileOpt) -> None:
    """Add a user of the dashboard (docs/dashboard.md): prompts for the password twice (at least 10
    characters) and writes its scrypt hash into the users file. A user who exists gets the new
    password. The running service reads the file at each login: no restart needed.

    Example: metergate web-user add --file /etc/metergate/web-users.toml wang
    """
    from services.analytics.web.auth import UsersFileError, add_user

    if action != "add":
        typer.echo(f"web-user {action}: the only action is add", err=True)
        raise typer.Exit(2)
    password = typer.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True)
    try:
        new = add_user(file, name, password)
    except UsersFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{file}: {'added' if new else 'new password for'} {name}")
