"""`metergate simulate --protocol dlt645|cjt188`: DL/T 645 or CJ/T 188 meters on a pseudo-terminal
(--rtu) and/or raw TCP (--rtu-over-tcp, as a transparent serial server passes them), each meter
answering its own address. Thin: parse the meters and faults, start simulators.frame_sim, print
what a client opens. Called by cli/commands/simulate.py."""

from __future__ import annotations

import json
from typing import Any

import typer

from cli.commands.frame_tools import meter_address
from drivers.di_profiles import resolve_di_variant
from drivers.errors import ProfileError, ProfileNotFound
from drivers.profiles import SerialSettings
from simulators.clock import SimClock
from simulators.di_meter import DiMeter, DiMeterOptions
from simulators.faults import FaultSpecError
from simulators.frame_sim import FrameSimulator

DEFAULT_METER = {"dlt645": "000000000001=dlt645-2007", "cjt188": "00000000000001=cjt188-water"}


def build(protocol: str, meters: list[str] | None, *, seed: int, clock: SimClock,
          line: SerialSettings | None, varying_preamble: bool) -> FrameSimulator:
    sim = FrameSimulator(protocol)
    for index, text in enumerate(meters or [DEFAULT_METER[protocol]]):
        address_text, sep, profile = text.partition("=")
        if not sep or not profile:
            raise typer.BadParameter(f"{text!r}: write ADDRESS=PROFILE[:VARIANT], e.g. "
                                     f"{DEFAULT_METER[protocol]}", param_hint="--meter")
        address = meter_address(address_text, protocol, option="--meter")
        try:
            variant = resolve_di_variant(profile, protocol)
        except (ProfileNotFound, ProfileError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--meter") from None
        options = DiMeterOptions(line=line, preamble_varies=varying_preamble)
        try:
            sim.add_meter(DiMeter(variant, address, seed=seed + index, clock=clock, options=options))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--meter") from None
    return sim


def inject(sim: FrameSimulator, faults: list[str] | None) -> list[dict[str, Any]]:
    """--fault ADDRESS:KIND[:KEY=VALUE,...]"""
    out = []
    for text in faults or []:
        address_text, _, spec = text.partition(":")
        try:
            address = meter_address(address_text, sim.protocol, option="--fault")
            fault = sim.inject(address, spec)
        except (KeyError, ValueError, FaultSpecError) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) else str(exc)
            raise typer.BadParameter(f"{text!r}: {msg}", param_hint="--fault") from None
        out.append({"address": address, "fault": str(fault)})
    return out


def print_facts(facts: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print(json.dumps(facts), flush=True)
        return
    for t in facts["transports"]:
        print(f"{facts['protocol']} on {t['transport']} {t['open']}"
              + (f" ({t['line']})" if "line" in t else "") + f": {', '.join(t['addresses'])}",
              flush=True)
    for m in facts["meters"]:
        print(f"  {m['address']}  {m['profile']}  {m['kind']}", flush=True)


__all__ = ["build", "inject", "print_facts"]
