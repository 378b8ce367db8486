"""Alert detectors on data the team did not write: held-out sets from public load sources.

    python -m benchmarks.alert_heldout [--quick] [--seed 101] [--days 70] [--sets ho-eemeter ...]
                                       [--per-kind 4] [--keep DIR] [--write-dev DIR] [--breakdown]

Needs the `eval` extra (`pip install -e '.[eval]'`: eemeter, demandlib, richardsonpy, wntr,
chinese-calendar — benchmark only, never imported by the product).

Sets (benchmarks/_heldout_sets.py, sources in benchmarks/_heldout_sources.py): one site per source,
3 buildings of electricity sub-meters (eemeter's real UK / modelled Illinois hourly meters, demandlib's
BDEW standard load profiles, or richardsonpy's stochastic flats), water meters (EPANET demand
patterns from wntr), a heat-pump pair (eemeter gas use as heat demand, its own temperature); read at
15 min, hourly, daily and (richardsonpy) 1 min; laid on the Chinese calendar (chinese-calendar) of
the set's dates. Each set comes twice: with injected faults and their labels, and CLEAN (no
injection). Both go through exactly `metergate alerts --from READINGS --config SITE --json` (a
subprocess, default options).

Split. DEV — sets dev-eemeter and dev-bdew, seeds 1 and 2, buildings dev-*, spring 2025 — is what
tuning may look at (`--write-dev DIR` writes it, with its labels). HELD-OUT — ho-eemeter, ho-bdew
(other samples, other BDEW profiles, other buildings) and ho-richardson (a source dev never has),
autumn 2024 (中秋, 国庆 and their 调休 weekend days), seed 101 by default (never 1 or 2) — is generated
on the fly into a temporary folder (`--keep DIR` keeps it) and gives the headline figures.

Matching rules (`score`):
- an alert's window is [start, cleared], or [start, last reading] while active;
- a labelled event's window is widened to [start − 2 h, end + 6 h] (end + 48 h for water_leak and
  base_load_creep, which daily detectors judge after the day or night is over);
- event recall per kind: an event is found when an alert of a compatible kind on the same subject
  (the meter) overlaps its widened window. Compatible: counter_reset – counter_reset; stuck_meter –
  stuck_meter; comm_loss – comm_loss; water_leak – water_leak; consumption_anomaly –
  consumption_anomaly or after_hours_waste; base_load_creep – base_load_creep or after_hours_waste;
  spike – spike or sentinel; sentinel – sentinel or spike;
- precision (injected sets): alerts whose window overlaps the widened window of any labelled event on
  the same subject, of any kind (a fault has side effects: a stuck meter is also a consumption drop),
  over all detector alerts;
- false alerts per 100 meter-weeks: detector alerts on the CLEAN copy per 100 × meters × weeks;
- building-level quota alerts (`quota_*`) are not detector alerts: counted and shown apart, never
  scored (whether a quota applies is the site's classification, not a detection).
The baseline, measured in the same run on the same readings: a naive detector flags each meter's
hourly consumption (daily for daily-read meters) with |global z-score| > 3, consecutive cells merged
into one event; it has no kinds, so any of its events may match any labelled event.
Targets (issue 10): recall ≥ 0.95 counter_reset, stuck_meter, comm_loss, water_leak; ≥ 0.9
consumption_anomaly, base_load_creep; precision ≥ 0.9; ≤ 1 false alert per 100 meter-weeks.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks import _heldout_sets as hs
from benchmarks import _heldout_sources as src

H = 3600 * hs.S
DEV_SETS = ("dev-eemeter", "dev-bdew", "dev-autumn")
DEV_SEEDS = (1, 2)
HELDOUT_SETS = ("ho-eemeter", "ho-bdew", "ho-richardson")
COMPATIBLE = {
    "counter_reset": {"counter_reset"}, "stuck_meter": {"stuck_meter"}, "comm_loss": {"comm_loss"},
    "water_leak": {"water_leak"}, "consumption_anomaly": {"consumption_anomaly", "after_hours_waste"},
    "base_load_creep": {"base_load_creep", "after_hours_waste"}, "spike": {"spike", "sentinel"},
    "sentinel": {"sentinel", "spike"},
}
RECALL_TARGET = {"counter_reset": 0.95, "stuck_meter": 0.95, "comm_loss": 0.95, "water_leak": 0.95,
                 "consumption_anomaly": 0.9, "base_load_creep": 0.9}
BEFORE_NS = 2 * H
AFTER_NS = {"water_leak": 48 * H, "base_load_creep": 48 * H}
AFTER_DEFAULT_NS = 6 * H


@dataclass(frozen=True)
class Alert:
    kind: str
    subject: str
    start_ns: int
    end_ns: int


@dataclass
class Score:
    events: dict[str, int] = field(default_factory=dict)  # per kind
    found: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    true_alerts: int = 0
    by_kind_alerts: dict[str, int] = field(default_factory=dict)
    missed: list[hs.Event] = field(default_factory=list)

    def add(self, other: Score) -> None:
        for k, v in other.events.items():
            self.events[k] = self.events.get(k, 0) + v
        for k, v in other.found.items():
            self.found[k] = self.found.get(k, 0) + v
        for k, v in other.by_kind_alerts.items():
            self.by_kind_alerts[k] = self.by_kind_alerts.get(k, 0) + v
        self.alerts += other.alerts
        self.true_alerts += other.true_alerts
        self.missed += other.missed

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else float("nan")

    def recall(self, kind: str | None = None) -> float:
        if kind is None:
            e, f = sum(self.events.values()), sum(self.found.values())
        else:
            e, f = self.events.get(kind, 0), self.found.get(kind, 0)
        return f / e if e else float("nan")


def widened(e: hs.Event) -> tuple[int, int]:
    return e.start_ns - BEFORE_NS, e.end_ns + AFTER_NS.get(e.kind, AFTER_DEFAULT_NS)


def _overlaps(a: Alert, lo: int, hi: int) -> bool:
    return a.start_ns <= hi and a.end_ns >= lo


def score(events: Sequence[hs.Event], alerts: Sequence[Alert], *, any_kind: bool = False) -> Score:
    """Event recall per kind and precision of `alerts` against labelled `events` (the module's rules);
    `any_kind`: every alert kind is compatible with every event (the kind-less baseline)."""
    sc = Score()
    by_subject: dict[str, list[Alert]] = {}
    for a in alerts:
        by_subject.setdefault(a.subject, []).append(a)
    for e in events:
        lo, hi = widened(e)
        sc.events[e.kind] = sc.events.get(e.kind, 0) + 1
        ok = any(_overlaps(a, lo, hi) and (any_kind or a.kind in COMPATIBLE[e.kind])
                 for a in by_subject.get(e.subject, []))
        sc.found[e.kind] = sc.found.get(e.kind, 0) + int(ok)
        if not ok:
            sc.missed.append(e)
    ev_by_subject: dict[str, list[tuple[int, int]]] = {}
    for e in events:
        ev_by_subject.setdefault(e.subject, []).append(widened(e))
    for a in alerts:
        sc.alerts += 1
        sc.by_kind_alerts[a.kind] = sc.by_kind_alerts.get(a.kind, 0) + 1
        sc.true_alerts += int(any(_overlaps(a, lo, hi) for lo, hi in ev_by_subject.get(a.subject, [])))
    return sc


# ------------------------------------------------------------------------------------------- the CLI

def metergate() -> str:
    exe = Path(sys.executable).parent / "metergate"
    found = str(exe) if exe.exists() else shutil.which("metergate")
    if not found:
        raise SystemExit("metergate is not installed in this environment (pip install -e .)")
    return found


def run_cli(readings: Path, site: Path) -> tuple[list[Alert], list[Alert], float]:
    """`metergate alerts --from READINGS --config SITE --json`: (detector alerts, quota alerts, s)."""
    t0 = time.monotonic()
    p = subprocess.run([metergate(), "alerts", "--from", str(readings), "--config", str(site), "--json"],
                       capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise SystemExit(f"metergate alerts failed ({p.returncode}) on {readings}:\n{p.stderr[-2000:]}")
    readings.with_suffix(".alerts.json").write_text(p.stdout, encoding="utf-8")  # for --keep
    doc = json.loads(p.stdout)
    last = _last_reading_ns(readings)
    det: list[Alert] = []
    quota: list[Alert] = []
    for a in doc["alerts"]:
        end = last if a.get("cleared") is None else round(a["cleared"] * 1e9)
        al = Alert(a["kind"], a["subject"], round(a["start"] * 1e9), end)
        (quota if a["kind"].startswith("quota_") or a["kind"].startswith("reduction_") else det).append(al)
    return det, quota, time.monotonic() - t0


def _last_reading_ns(path: Path) -> int:
    with path.open("rb") as f:
        f.seek(max(0, path.stat().st_size - 400))
        return int(f.read().decode().strip().splitlines()[-1].split(",")[0])


# ------------------------------------------------------------------------------------------- baseline

def naive(rows: list[tuple[str, npt.NDArray[np.int64], hs.F64]], s: hs.EvalSet, z: float = 3.0
          ) -> list[Alert]:
    """|global z| > z of each meter's hourly (daily-read: daily) consumption, runs merged."""
    cad = {m.id: m.cadence_s for m in s.meters}
    out = []
    for mid, ts, v in rows:
        step = (86_400 if cad[mid] >= 86_400 else 3600) * hs.S
        edges = s.t0_ns + np.arange(0, s.days * 86_400 * hs.S // step + 1) * step
        ok = np.isfinite(v)
        if ok.sum() < 3:
            continue
        at = np.interp(edges, ts[ok], v[ok], left=np.nan, right=np.nan)
        use = np.diff(at)
        m, sd = np.nanmean(use), np.nanstd(use)
        flag = np.abs(use - m) > z * sd if sd > 0 else np.zeros(len(use), bool)
        i = 0
        while i < len(flag):
            if flag[i]:
                j = i
                while j + 1 < len(flag) and flag[j + 1]:
                    j += 1
                out.append(Alert("naive", mid, int(edges[i]), int(edges[j + 1])))
                i = j + 1
            else:
                i += 1
    return out


# ------------------------------------------------------------------------------------------- a run

@dataclass
class SetResult:
    name: str
    split: str
    meters: int
    meter_weeks: float
    ours: Score
    clean_alerts: list[Alert]
    quota_alerts: int
    baseline: Score
    baseline_clean: int
    seconds: float
    described: dict[str, str] = field(default_factory=dict)  # meter id -> "kind cadence source"


def evaluate(recipe: hs.Recipe, seed: int, days: int, folder: Path, *, buildings: int | None = None,
             elec: int = 6, per_kind: int = 4) -> SetResult:
    s = hs.build(recipe, seed, days, elec_per_building=elec, buildings=buildings)
    edits = hs.inject(s, seed, per_kind)
    site, inj, clean = hs.write(s, folder / f"{s.name}-seed{seed}", edits)
    det, quota, t1 = run_cli(inj, site)
    det_clean, quota_clean, t2 = run_cli(clean, site)
    ours = score(s.events, det)
    nv = score(s.events, naive(hs.readings(s, edits, s.seed), s), any_kind=True)
    nv_clean = naive(hs.readings(s, None, s.seed), s)
    described = {m.id: f"{m.kind} {m.cadence_s} s {m.source}{' (pair)' if m.pair else ''}" for m in s.meters}
    return SetResult(s.name, s.split, len(s.meters), s.meter_weeks, ours, det_clean,
                     len(quota) + len(quota_clean), nv, len(nv_clean), t1 + t2, described)


def breakdown(r: SetResult) -> None:
    """The clean copy's false alerts of one set by kind and by what the meter is (DEV sets only: this
    is what tuning looks at)."""
    counts: dict[tuple[str, str], int] = {}
    for a in r.clean_alerts:
        key = (a.kind, r.described.get(a.subject, a.subject))
        counts[key] = counts.get(key, 0) + 1
    print(f"\n{r.name}: {len(r.clean_alerts)} false alerts on the clean copy")
    for (kind, what), n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {n:>4}  {kind:<22} {what}")


def _f(x: float) -> str:
    return "-" if np.isnan(x) else f"{x:.2f}"


def report(results: Sequence[SetResult], title: str) -> bool:
    print(f"\n== {title}")
    print(f"{'set':<22}{'meters':>7}{'m-weeks':>9}{'events':>7}{'recall':>8}{'alerts':>7}{'precision':>10}"
          f"{'clean':>7}{'/100mw':>8}{'quota':>7}{'CLI s':>7}   baseline recall/precision//100mw")
    for r in results:
        e = sum(r.ours.events.values())
        print(f"{r.name:<22}{r.meters:>7}{r.meter_weeks:>9.0f}{e:>7}{_f(r.ours.recall()):>8}{r.ours.alerts:>7}"
              f"{_f(r.ours.precision):>10}{len(r.clean_alerts):>7}"
              f"{100 * len(r.clean_alerts) / r.meter_weeks:>8.2f}{r.quota_alerts:>7}{r.seconds:>7.0f}   "
              f"{_f(r.baseline.recall())} / {_f(r.baseline.precision)} / "
              f"{100 * r.baseline_clean / r.meter_weeks:.2f}")
    tot, base = Score(), Score()
    for r in results:
        tot.add(r.ours)
        base.add(r.baseline)
    ok = True
    print(f"\n{'kind':<22}{'events':>7}{'found':>7}{'recall':>8}   target")
    for k in hs.KINDS:
        t = RECALL_TARGET.get(k)
        rec = tot.recall(k)
        verdict = ""
        if t is not None:
            met = rec >= t
            ok &= met
            verdict = f"≥ {t:.2f} {'met' if met else 'MISSED'}"
        print(f"{k:<22}{tot.events.get(k, 0):>7}{tot.found.get(k, 0):>7}{_f(rec):>8}   {verdict}")
    met = tot.precision >= 0.9
    ok &= met
    print(f"\nprecision {_f(tot.precision)} ({tot.true_alerts}/{tot.alerts})  [≥ 0.90] "
          f"{'met' if met else 'MISSED'}   alerts by kind: {dict(sorted(tot.by_kind_alerts.items()))}")
    clean = [a for r in results for a in r.clean_alerts]
    mw = sum(r.meter_weeks for r in results)
    rate = 100 * len(clean) / mw
    met = rate <= 1.0
    ok &= met
    kinds: dict[str, int] = {}
    for a in clean:
        kinds[a.kind] = kinds.get(a.kind, 0) + 1
    print(f"clean copies: {len(clean)} alerts in {mw:.0f} meter-weeks = {rate:.2f} per 100 meter-weeks  "
          f"[≤ 1] {'met' if met else 'MISSED'}   {dict(sorted(kinds.items()))}")
    nb_clean = sum(r.baseline_clean for r in results)
    print(f"baseline (naive |z| > 3 of hourly/daily consumption, same readings): event recall "
          f"{_f(base.recall())}, precision {_f(base.precision)}, {100 * nb_clean / mw:.2f} false per 100 "
          f"meter-weeks; ours: {_f(tot.recall())}, {_f(tot.precision)}, {rate:.2f}")
    print(f"quota alerts (building level, not scored): {sum(r.quota_alerts for r in results)}")
    print(f"targets {'met' if ok else 'MISSED'}")
    return ok


def versions() -> str:
    return (f"eemeter {src.eemeter_version()}, demandlib {src.demandlib_version()}, richardsonpy "
            f"{src.richardson_version()}, wntr {src.wntr_version()}, chinese-calendar "
            f"{src.chinese_calendar_version()}")


DEV_README = """# Detector evaluation — DEV split (tuning may look at this)

Written by `python -m benchmarks.alert_heldout --write-dev {folder}` on {when} (metergate
benchmarks/alert_heldout.py; sources: {versions}).

Each folder is one site, spring 2025 (3 March + {days} days, Asia/Shanghai, 清明 and 劳动节 with the
调休 Sunday 27 April from chinese-calendar):
- `site.toml` — the site config (buildings, meters, heat-pump `pair`s); check with `metergate validate`;
- `readings.csv` — counter readings WITH injected faults; `clean.csv` — the same readings, no faults;
- `labels.json` — every injected fault: kind, subject (meter), start_ns/end_ns (and local ISO times),
  size; plus each meter's kind, cadence and source.

Run: `metergate alerts --from readings.csv --config site.toml --json` (and on clean.csv for false
alerts). Matching rules and targets: the docstring of benchmarks/alert_heldout.py and
docs/benchmarks.md.

Sets: dev-eemeter (eemeter sample meters: Illinois modelled + UK real smart meter sample 0;
heat pump from the Illinois gas sample), dev-bdew (demandlib BDEW G0, G1, G4, H0 with noise),
water from EPANET ky4's demand pattern (wntr) with our day-type factors and noise. Seeds {seeds}.

The HELD-OUT split (other seeds, other buildings, other samples and profiles, a source this split
does not have, autumn 2024) is never written here: the benchmark makes it on the fly. Do not tune on
it.
"""


def write_dev(folder: Path, days: int) -> None:
    rs = hs.recipes(days)
    folder.mkdir(parents=True, exist_ok=True)
    for name in DEV_SETS:
        for seed in DEV_SEEDS:
            s = hs.build(rs[name], seed, days)
            hs.write(s, folder / f"{name}-seed{seed}", hs.inject(s, seed))
            print(f"wrote {folder / f'{name}-seed{seed}'}: {len(s.meters)} meters, {len(s.events)} events")
    (folder / "README.md").write_text(DEV_README.format(
        folder=folder, when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), versions=versions(),
        days=days, seeds=", ".join(map(str, DEV_SEEDS))), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="2 buildings × 3 electricity meters per set, 42 days (a few minutes)")
    ap.add_argument("--seed", type=int, default=101, help="held-out seed (never a dev seed)")
    ap.add_argument("--days", type=int, default=70)
    ap.add_argument("--sets", nargs="+", default=list(HELDOUT_SETS), choices=HELDOUT_SETS + DEV_SETS)
    ap.add_argument("--per-kind", type=int, default=4, help="injected events of each kind per set")
    ap.add_argument("--keep", type=Path, help="keep the generated sets in this folder")
    ap.add_argument("--write-dev", type=Path, help="write the DEV split (readings, sites, labels) and stop")
    ap.add_argument("--breakdown", action="store_true",
                    help="DEV sets only: the clean copies' false alerts by kind and meter source")
    args = ap.parse_args(argv)
    if args.breakdown and any(x in HELDOUT_SETS for x in args.sets):
        ap.error("--breakdown is for DEV sets only: the held-out split is not looked into")
    if args.write_dev:
        write_dev(args.write_dev, args.days)
        return 0
    if args.seed in DEV_SEEDS and any(x in HELDOUT_SETS for x in args.sets):
        ap.error(f"--seed {args.seed} is a dev seed; the held-out split uses other seeds")
    days = 42 if args.quick else args.days
    buildings, elec = (2, 3) if args.quick else (None, 6)
    rs = hs.recipes(days)
    print(f"alert detectors on independently shaped data; sources: {versions()}")
    print(f"seed {args.seed}, {days} days per set, through `metergate alerts --from R --config S --json`")
    with tempfile.TemporaryDirectory(prefix="alert-heldout-") as tmp:
        folder = args.keep or Path(tmp)
        results = []
        for name in args.sets:
            seed = args.seed if name in HELDOUT_SETS else DEV_SEEDS[0]
            r = evaluate(rs[name], seed, days, folder, buildings=buildings, elec=elec, per_kind=args.per_kind)
            results.append(r)
            print(f"{name}: {r.meters} meters, {sum(r.ours.events.values())} events, recall "
                  f"{_f(r.ours.recall())}, precision {_f(r.ours.precision)}, clean alerts "
                  f"{len(r.clean_alerts)}, CLI {r.seconds:.0f} s", flush=True)
        ok = report(results, f"{'HELD-OUT' if all(r.split == 'heldout' for r in results) else 'MIXED'} "
                             f"sets {', '.join(args.sets)} (seed {args.seed})")
        if args.breakdown:
            for r in results:
                breakdown(r)
        missed = [e for r in results for e in r.ours.missed]
        if missed:
            print(f"\nmissed events ({len(missed)}):")
            for e in missed[:40]:
                t = datetime.fromtimestamp(e.start_ns / hs.S, hs.TZ).isoformat(timespec="minutes")
                print(f"  {e.kind:<20} {e.subject:<14} {t}  {(e.end_ns - e.start_ns) / H:.1f} h")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
