"""The runnable examples under examples/, run as a user runs them: a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "examples" / "langgraph_pipeline.py"
PIPELINE_CONFIG = ROOT / "examples" / "langgraph_pipeline.yaml"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PIPELINE), *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_pipeline_config_checks():
    out = subprocess.run([sys.executable, "-m", "crosswalk.router.cli", "check", str(PIPELINE_CONFIG)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "step verify:" in out.stdout and "3 of 3 must agree (numeric)" in out.stdout
    assert "  validate: refund-band; on invalid: failover" in out.stdout


def test_langgraph_pipeline_loops_back_on_an_invalid_member_and_ends_agreed():
    out = _run()
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    nodes = [re.match(r"research|draft #\d|verify #\d", line).group(0) for line in lines[:-2]]  # type: ignore[union-attr]
    assert nodes == ["research", "draft #1", "verify #1", "draft #2", "verify #2"]
    first_draft, first_verify, second_draft, second_verify = lines[1], lines[2], lines[3], lines[4]
    assert "$4299" in first_draft  # the scripted slip
    # The step's validator judged gamma's answer out of band: a failed member, not a vote.
    assert first_verify.startswith("verify #1  inconclusive") and "gamma-checker:" not in first_verify.split("; invalid:")[0]
    assert "invalid: gamma-checker broke refund-band (the answer's number is 4299, above max 1000)" in first_verify
    assert first_verify.endswith("-> back to draft")
    assert "$42.99" in second_draft
    assert " agreed score=1.00" in second_verify and "check ok" in second_verify and second_verify.endswith("-> done")
    assert lines[-2] == "result: agreed after 2 draft(s), 1 revision(s)"
    assert lines[-1].startswith("reply: ") and "$42.99" in lines[-1]


def test_langgraph_pipeline_loop_is_bounded_when_the_panel_never_agrees(tmp_path):
    config = yaml.safe_load(PIPELINE_CONFIG.read_text())
    config["providers"]["gamma-checker"]["simulate"] = {"latency_ms": 5, "jitter_ms": 0, "answer": "Refund amount: 4299"}
    path = tmp_path / "stubborn.yaml"
    path.write_text(yaml.safe_dump(config))
    out = _run("--config", str(path))
    assert out.returncode == 1, out.stdout + out.stderr
    verdicts = [line for line in out.stdout.splitlines() if line.startswith("verify #")]
    assert len(verdicts) == 3 and all("inconclusive" in line and "broke refund-band" in line for line in verdicts)
    assert "result: inconclusive after 3 draft(s), 2 revision(s)" in out.stdout


SEAMS = ROOT / "examples" / "langgraph_seams.py"


def test_langgraph_seams_example_flags_the_dropped_decimal_between_two_steps():
    out = subprocess.run([sys.executable, str(SEAMS)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "the application passed on: 4299" in out.stdout
    assert ("seam flagged: extract-refund -> issue-refund: 42.99 USD answered, 4299 USD received (decimal dropped; flag)"
            in out.stdout)
    fixed = subprocess.run([sys.executable, str(SEAMS), "--fixed"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert fixed.returncode == 0 and "no seam flagged" in fixed.stdout, fixed.stdout + fixed.stderr
