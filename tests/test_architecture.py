"""The import rules of docs/architecture.md, checked on every module (function-local imports too):
a forbidden edge fails with the file, the line and the rule."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# package (folder) -> the first-party packages its modules may import
ALLOWED = {
    "core": {"core"},
    "config": set(),  # installed as metergate_data: the bundled data and one lookup function
    "drivers": {"core", "drivers", "metergate_data"},
    "analytics": {"core", "analytics", "metergate_data"},
    "simulators": {"core", "drivers", "simulators", "metergate_data"},
    "site_config": {"core", "drivers", "analytics", "site_config", "metergate_data"},
    "gateway": {"core", "drivers", "simulators", "site_config", "gateway", "metergate_data"},
    "services": {"core", "analytics", "site_config", "services", "reports", "metergate_data"},
    "reports": {"core", "analytics", "reports"},
    "cli": {"core", "drivers", "analytics", "simulators", "site_config", "gateway", "services", "reports",
            "cli", "metergate_data"},
}
# sub-packages that share services.shared and the core contract, never each other's internals
APART = {"services/ingest": "services.analytics", "services/analytics": "services.ingest"}
FIRST_PARTY = {*ALLOWED, "metergate_data"} - {"config"}
ONLY_IN = {"pymodbus": {"drivers/pymodbus_adapter.py"}}  # third-party packages behind one adapter


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.lineno, node.module))
    return out


def test_documented_rules_are_the_tested_ones() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for package, allowed in ALLOWED.items():
        row = re.search(rf"^\| `{package}/` \|[^|]*\| (.*) \|$", text, re.MULTILINE)
        assert row, f"docs/architecture.md has no row for {package}/"
        documented = set(re.findall(r"`(\w+)`", row.group(1)))
        assert documented == allowed - {package}, (package, documented, allowed - {package})


def test_no_package_imports_what_its_rules_forbid() -> None:
    broken = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for line, module in _imports(path):
                top = module.split(".")[0]
                if top in FIRST_PARTY and top not in allowed:
                    broken.append(f"{rel}:{line}: imports {module}; {package}/ may import only "
                                  f"{', '.join(sorted(allowed - {package})) or 'the standard library'}")
                for folder, other in APART.items():
                    if rel.startswith(folder + "/") and (module == other or module.startswith(other + ".")):
                        broken.append(f"{rel}:{line}: imports {module}; {folder}/ may not import {other} "
                                      "(share services.shared or core instead)")
                if top in ONLY_IN and rel not in ONLY_IN[top]:
                    broken.append(f"{rel}:{line}: imports {module}; only {', '.join(ONLY_IN[top])} may")
    assert not broken, "\n".join(broken)


def test_a_forbidden_edge_is_caught(tmp_path: Path) -> None:
    """The walker sees a function-local import, as the rules need."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from site_config import SiteConfig\n    return SiteConfig\n")
    assert (2, "site_config") in _imports(f)
