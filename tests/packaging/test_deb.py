"""The Debian package (issue 14): `scripts/package` builds it from the wheelhouse `scripts/test` fills
(scripts/wheelhouse: the one step that needs the package index), offline; its control fields,
contents, conffiles and maintainer scripts are checked with dpkg-deb, and the wheels it carries are
installed into a fresh environment with --no-index, as postinst does, then run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


@dataclass
class Built:
    deb: Path
    control: Path  # the DEBIAN folder, extracted
    tree: Path  # the files, extracted


def dpkg_deb(*args: str) -> str:
    return subprocess.run(["dpkg-deb", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    assert WHEELHOUSE.is_dir() and any(WHEELHOUSE.glob("*.whl")), (
        f"{WHEELHOUSE} is missing: run scripts/wheelhouse (scripts/test does) to fetch the dependency "
        "wheels the package bundles")
    base = tmp_path_factory.mktemp("deb")
    run = subprocess.run([str(ROOT / "scripts" / "package"), "--wheelhouse", str(WHEELHOUSE), "--out",
                          str(base / "dist")], capture_output=True, text=True, timeout=600, check=False,
                         env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "HOME": str(base)})
    assert run.returncode == 0, run.stdout + run.stderr
    arch = subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True,
                          text=True).stdout.strip()
    deb = base / "dist" / f"metergate_{VERSION}_{arch}.deb"
    assert deb.is_file(), list((base / "dist").iterdir())
    dpkg_deb("-e", str(deb), str(base / "DEBIAN"))
    dpkg_deb("-x", str(deb), str(base / "tree"))
    yield Built(deb, base / "DEBIAN", base / "tree")


def test_control_fields(built: Built) -> None:
    names = ("Package", "Version", "Architecture", "Depends", "Maintainer", "Description", "Installed-Size")
    fields = {k: dpkg_deb("-f", str(built.deb), k).strip() for k in names}
    assert fields["Package"] == "metergate" and fields["Version"] == VERSION
    assert fields["Architecture"] == subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                                                    text=True, check=True).stdout.strip()
    major, minor = sys.version_info[:2]
    for dep in (f"python3 (>= {major}.{minor})", f"python3 (<< {major}.{minor + 1})", "python3-venv",
                "adduser"):
        assert dep in fields["Depends"]
    assert fields["Maintainer"] and fields["Description"]
    size_kib = int(fields["Installed-Size"])
    assert 10_000 < size_kib < 200_000  # the bundled wheels: tens of MB
    info = dpkg_deb("-I", str(built.deb))
    assert "postinst" in info and "prerm" in info and "postrm" in info and "conffiles" in info


def test_contents_owned_by_root_with_units_examples_and_every_wheel(built: Built) -> None:
    listing = dpkg_deb("-c", str(built.deb)).splitlines()
    assert all(" root/root " in line for line in listing), [x for x in listing if " root/root " not in x]
    paths = {line.split()[-1].lstrip(".") for line in listing}
    for unit in (ROOT / "systemd").glob("*.service"):
        assert f"/lib/systemd/system/{unit.name}" in paths
    for example in ("campus.toml", "ingest.toml", "analytics.toml"):
        assert f"/etc/metergate/examples/{example}" in paths
    wheels = {p.name for p in (built.tree / "opt" / "metergate" / "wheels").glob("*.whl")}
    assert any(w.startswith(f"metergate-{VERSION}-") for w in wheels)
    # every dependency of this environment's metergate is bundled (names normalised as in wheels)
    from importlib.metadata import requires

    needed = {r.split(";")[0].split("[")[0].replace(">", " ").replace("<", " ").replace("~", " ")
              .replace("=", " ").split()[0].lower().replace("-", "_") for r in requires("metergate") or []
              if "extra ==" not in r}
    bundled = {w.split("-")[0].lower() for w in wheels}
    assert needed <= bundled, needed - bundled


def test_conffiles_are_every_file_under_etc(built: Built) -> None:
    conffiles = (built.control / "conffiles").read_text().split()
    under_etc = sorted("/" + p.relative_to(built.tree).as_posix()
                       for p in (built.tree / "etc").rglob("*") if p.is_file())
    assert conffiles == under_etc and conffiles


def test_maintainer_scripts_parse_and_refuse_unknown_actions(built: Built) -> None:
    for name in ("postinst", "prerm", "postrm"):
        script = built.control / name
        assert script.stat().st_mode & 0o111, name
        subprocess.run(["sh", "-n", str(script)], check=True)
        # an unknown action is an error, and does nothing else (no user, no venv made)
        bad = subprocess.run(["sh", str(script), "no-such-action"], capture_output=True, text=True,
                             check=False)
        assert bad.returncode == 1 and "unknown argument" in bad.stderr, (name, bad.stderr)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", "-s", "sh", *(str(built.control / n) for n in
                                                    ("postinst", "prerm", "postrm"))], check=True)
    postinst = (built.control / "postinst").read_text()
    assert "dialout" in postinst and "/var/lib/metergate" in postinst and "--no-index" in postinst
    assert "systemctl restart" in postinst  # an upgrade restarts what was running
    prerm = (built.control / "prerm").read_text()
    assert "upgrade|failed-upgrade)\n    ;;" in prerm  # an upgrade does not stop the services
    postrm = (built.control / "postrm").read_text()
    assert "rm -rf /var/lib/metergate" not in postrm  # the outbox is never deleted by the package
    if shutil.which("lintian"):
        out = subprocess.run(["lintian", "--no-tag-display-limit", str(built.deb)], capture_output=True,
                             text=True, check=False)
        errors = [line for line in out.stdout.splitlines() if line.startswith("E:")]
        assert not errors, "\n".join(errors)


def test_the_bundled_wheels_install_offline_and_run(built: Built, tmp_path: Path) -> None:
    """What postinst does, into a temporary folder: a venv, pip install --no-index from the wheels."""
    python = sys.executable  # the Python the wheelhouse was fetched for (the control file names it)
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
    wheels = built.tree / "opt" / "metergate" / "wheels"
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", "--no-index", "--find-links", str(wheels), "metergate"],
                   check=True, timeout=600, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    version = subprocess.run([str(venv / "bin" / "metergate"), "--version"], capture_output=True, text=True,
                             check=True, env=env, cwd=tmp_path).stdout
    assert version.startswith(f"metergate {VERSION}") and str(venv) in version
    example = built.tree / "etc" / "metergate" / "examples" / "campus.toml"
    ok = subprocess.run([str(venv / "bin" / "metergate"), "validate", str(example)], capture_output=True,
                        text=True, env=env, cwd=tmp_path, check=False)
    assert ok.returncode == 0 and ok.stdout.startswith("ok: "), ok.stdout + ok.stderr
