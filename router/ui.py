"""GET /ui: the operator's page of a running sidecar, rendered on the server.

One HTML page, no build step, no script and nothing fetched from outside: each step with
its ranked providers and their standing (eligible, ejected until when, excluded with the
evidence and its basis, blocked by compliance), the last notable decisions of this process
(router/recent.py), and per step the answered / first-attempt / after-failover rates, the
panel disagreements and the validator flags, read from the same /metrics exposition that
`crosswalk report` reads (merged across `--workers`). An excluded provider has a button
that lifts its exclusion (a form POST carrying a token only this page shows, so another
site cannot lift it through an operator's browser).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from html import escape
from typing import Sequence

from crosswalk.router.recent import Notable
from crosswalk.router.report import COLUMNS, StepReliability, from_exposition, invalid_outputs
from crosswalk.router.runtime import Runtime
from crosswalk.router.state import Standing


def lift_token(keys: Sequence[str], salt: bytes) -> str:
    """The token the lift form carries. From the keys when there are some, so every worker
    of `serve --workers N` accepts the others' pages; else from `salt` (per process)."""
    secret = "\x00".join(keys).encode() if keys else salt
    return hmac.new(secret, b"crosswalk-ui-lift", hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class PageInput:
    """What the page shows besides the runtime: the reload status, whether this replica is
    draining, the merged exposition text, the lift token, and a notice (a lift just done)."""

    reloaded_at: str | None
    reload_error: str | None
    draining: bool
    exposition: str
    token: str
    recent: Sequence[Notable] = ()
    notice: str | None = None


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.4em 0 .4em}
table{border-collapse:collapse;margin:.3em 0 1em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.muted{color:#777}.notice{background:#eef7ee;border:1px solid #9c9;padding:.4em .8em}
.error{background:#fbeaea;border:1px solid #d99;padding:.4em .8em}
.state-eligible,.state-healthy{color:#176117}.state-half_open,.state-cooling_down{color:#8a5a00}
.state-ejected,.state-excluded,.state-blocked{color:#a31515;font-weight:600}
form{margin:0}button{cursor:pointer}
"""


def render(runtime: Runtime, page: PageInput) -> str:
    """The whole page as HTML; every value from config, vendors or callers is escaped."""
    config = runtime.config
    standings = {s.provider: s for s in runtime.state.standings()}
    reliability = {r.step: r for r in from_exposition(page.exposition)}
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Crosswalk</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Crosswalk</h1>",
        f"<p class=muted>config <code>{escape(config.source)}</code>"
        + (f", reloaded {escape(page.reloaded_at)}" if page.reloaded_at else "")
        + (" &middot; <strong>draining</strong>" if page.draining else "") + " &middot; <a href=/ui>refresh</a></p>",
    ]
    if page.notice:
        parts.append(f"<p class=notice>{escape(page.notice)}</p>")
    if page.reload_error:
        parts.append(f"<p class=error>The last config reload failed; the previous config is still served: {escape(page.reload_error)}</p>")
    parts.append("<h2>Steps</h2>")
    parts.extend(_step(runtime, name, reliability.get(name)) for name in config.steps)
    parts.append("<h2>Providers</h2>")
    parts.append(_providers(runtime, standings, page.token))
    parts.append("<h2>Validator flags</h2>")
    parts.append(_invalid(page.exposition))
    parts.append("<h2>Last failovers, recoveries and flags</h2>")
    parts.append(_recent(page.recent))
    parts.append("</body></html>")
    return "".join(parts)


def _step(runtime: Runtime, name: str, rel: StepReliability | None) -> str:
    step = runtime.config.steps[name]
    rows = runtime.status(name)
    head = f"<section id='step-{escape(name)}'><h3>{escape(name)}</h3>"
    if step.description:
        head += f"<p class=muted>{escape(step.description)}</p>"
    ranked = "".join(
        f"<tr><td>{rank}</td><td>{escape(row.provider)}</td><td class='state-{escape(row.status)}'>{escape(row.status)}</td>"
        f"<td>{escape(row.reason)}</td></tr>" for rank, row in enumerate(rows, 1))
    table = f"<table class=ranked><tr><th>#</th><th>provider</th><th>status</th><th>why</th></tr>{ranked}</table>"
    if rel is None:
        return head + table + "<p class=muted>no requests observed yet</p></section>"
    cells = "".join(f"<td>{escape(c.value(rel))}</td>" for c in COLUMNS)
    heads = "".join(f"<th title='{escape(c.legend)}'>{escape(c.header)}</th>" for c in COLUMNS)
    return head + table + f"<table class=rates><tr>{heads}</tr><tr>{cells}</tr></table></section>"


def _providers(runtime: Runtime, standings: dict[str, Standing], token: str) -> str:
    wall = runtime.clock.wall().timestamp()
    rows = []
    for name, conf in runtime.config.providers.items():
        standing = standings[name]
        rows.append(
            f"<tr id='provider-{escape(name)}'><td>{escape(name)}</td><td>{escape(conf.vendor)}</td><td>{escape(conf.model)}</td>"
            f"<td>{escape(conf.region or '-')}</td><td class='state-{escape(standing.state)}'>{escape(standing.state)}</td>"
            f"<td>{_standing_detail(standing, wall)}</td><td>{_lift_form(name, standing, token)}</td></tr>")
    head = "<tr><th>provider</th><th>vendor</th><th>model</th><th>region</th><th>state</th><th>detail</th><th></th></tr>"
    return f"<table class=providers>{head}{''.join(rows)}</table>"


def _standing_detail(standing: Standing, wall: float) -> str:
    now, out = standing.now, []
    if standing.ejected_until is not None and standing.ejected_until > now:
        at = time.strftime("%H:%M:%S", time.gmtime(wall + standing.ejected_until - now))
        out.append(f"ejected until {at} UTC ({standing.ejected_until - now:.0f} s): {escape(standing.ejection_reason or '')}")
    if standing.cooldown_until is not None and standing.cooldown_until > now:
        out.append(f"cooling down {standing.cooldown_until - now:.0f} s: {escape(standing.cooldown_reason or '')}")
    ex = standing.exclusion
    if ex is not None:
        until = "until the config changes" if ex.until is None else f"for {max(0.0, ex.until - now) / 3600:.1f} h"
        out.append(f"excluded ({escape(ex.failure_class)}, {escape(ex.basis)}) since {escape(ex.at)}, {until}; "
                   f"evidence: <q class=evidence>{escape(ex.evidence)}</q>")
    if standing.pending:
        out.append(f"{len(standing.pending)} pending sighting(s) awaiting corroboration")
    return "<br>".join(out) or "<span class=muted>-</span>"


def _lift_form(name: str, standing: Standing, token: str) -> str:
    if standing.exclusion is None and not standing.pending:
        return ""
    return (f"<form method=post action='/ui/providers/{escape(name)}/unexclude'>"
            f"<input type=hidden name=token value='{escape(token)}'>"
            f"<button type=submit name=lift value='{escape(name)}'>Lift exclusion</button></form>")


def _invalid(exposition: str) -> str:
    counts = invalid_outputs(exposition)
    if not counts:
        return "<p class=muted>no answer broke a validator</p>"
    rows = "".join(f"<tr><td>{escape(step)}</td><td>{escape(provider)}</td><td>{escape(rule)}</td><td>{n}</td></tr>"
                   for (step, provider, rule), n in sorted(counts.items()))
    return f"<table class=invalid><tr><th>step</th><th>provider</th><th>rule</th><th>answers</th></tr>{rows}</table>"


def _recent(recent: Sequence[Notable]) -> str:
    if not recent:
        return "<p class=muted>nothing notable yet (this process)</p>"
    rows = "".join(
        f"<tr><td>{time.strftime('%H:%M:%S', time.gmtime(n.at))}</td><td>{escape(n.step)}</td><td>{escape(n.provider or '-')}</td>"
        f"<td><code>{escape(n.attempts)}</code></td><td>{escape('; '.join(n.what))}</td></tr>" for n in recent)
    head = "<tr><th>UTC</th><th>step</th><th>answered by</th><th>attempts</th><th>what happened</th></tr>"
    return f"<p class=muted>newest first, this process only</p><table class=recent>{head}{rows}</table>"
