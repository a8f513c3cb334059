"""The documentation site (docs/, built by `make docs`) holds to the code.

- It builds with `mkdocs build --strict` and prints no warning (broken links, pages left
  out of the nav, missing anchors).
- The config reference is generated from the schema: every key of every model below
  `ConfigSpec` is on the built page.
- Every code sample, in docs/ and in README.md, is run: each ```python block as a script
  (against a real `crosswalk serve` on the embedded default config where it names
  `127.0.0.1:8080`), each ```yaml block merged onto config/default.yaml and passed through
  `crosswalk check`, each ```console line that starts with `$ crosswalk` run as it is
  written; each `crosswalk ...` line of a ```bash block (servers, commands that need a
  running proxy) is parsed by the CLI's own parser, so an option the CLI lacks fails. A
  block that cannot run here says why in an HTML comment right above it
  (`<!-- not run: ... -->`), and the test reports it as skipped with that reason; a python
  block whose library cannot share the test environment names the side environment it runs
  in (`<!-- run in: llamaindex ... -->`, tests/side_env.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import pytest
import yaml

from tests.router.proxy_harness import ProxyProcess
from tests.side_env import OFFLINE, SIDE_ENVS, side_python

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"(?P<before>(?:<!--[^\n]*-->\n)?)```(?P<lang>[a-z]*)[^\n]*\n(?P<body>.*?)^```", re.S | re.M)
ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENAI_API_KEY": "sk-docs-sample-0123456789",
       "ANTHROPIC_API_KEY": "sk-ant-docs-sample-0123456789", "CROSSWALK_API_KEYS": "", "NO_MKDOCS_2_WARNING": "1"}


class Sample(NamedTuple):
    """A fenced block: its text, why it is not run (None: it is), the side environment it
    runs in (None: this one)."""

    body: str
    skip: str | None
    side_env: str | None


def samples(lang: str) -> Iterator[Any]:
    """A Sample, with id page:line, for each fenced block of `lang` in the docs."""
    for page in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        text = page.read_text()
        for match in FENCE.finditer(text):
            if match["lang"] != lang:
                continue
            line = text.count("\n", 0, match.start("lang")) + 1
            skip = re.match(r"<!--\s*not run:\s*(.+?)\s*-->", match["before"])
            side = re.match(r"<!--\s*run in:\s*(\S+)", match["before"])
            assert side is None or side[1] in SIDE_ENVS, f"{page}:{line} names no side environment of tests/side_env.py"
            marks = [pytest.mark.xdist_group(side[1])] if side else []  # with that environment's own tests
            yield pytest.param(Sample(match["body"], skip[1] if skip else None, side[1] if side else None),
                               id=f"{page.relative_to(ROOT)}:{line}", marks=marks)


def _run(args: list[str], *, env: dict[str, str] = ENV) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def test_the_site_builds_strict_with_no_warnings(tmp_path: Path) -> None:
    built = _run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")])
    assert built.returncode == 0, built.stderr
    warnings = [line for line in built.stderr.splitlines() if re.match(r"(\x1b\[[0-9;]*m)*WARNING\b", line)]
    assert not warnings, built.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    page = (tmp_path / "site" / "reference" / "config" / "index.html").read_text()
    from crosswalk.policies.schema import ConfigSpec
    from pydantic import BaseModel

    missing, todo, seen = [], [ConfigSpec], set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            if f"<code>{field.alias or name}</code>" not in page:
                missing.append(f"{model.__name__}.{name}")
            todo.extend(a for a in _models_in(field.annotation) if issubclass(a, BaseModel))
    assert not missing, f"keys missing from the generated config reference: {missing}"
    assert len(seen) > 10  # the walk went down into the nested models
    cli_page = (tmp_path / "site" / "cli" / "index.html").read_text()
    for command in ("check", "serve", "demo", "explain", "report", "unexclude"):
        help_text = _run([sys.executable, "-m", "crosswalk.router.cli", command, "--help"]).stdout
        options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", help_text))
        assert options and all(o in cli_page for o in options), (command, sorted(o for o in options if o not in cli_page))


def _models_in(annotation: Any) -> Iterator[type]:
    import typing

    if isinstance(annotation, type):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


@pytest.fixture(scope="module")
def default_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    config = tmp_path_factory.mktemp("docs") / "default.yaml"
    config.write_text((ROOT / "config" / "default.yaml").read_text())
    proc = ProxyProcess(config, env={"CROSSWALK_API_KEYS": ""}).wait_ready()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.mark.parametrize("sample", list(samples("python")))
def test_python_samples_run(sample: Sample, default_proxy: ProxyProcess, tmp_path: Path) -> None:
    if sample.skip:
        pytest.skip(sample.skip)
    python = side_python(sample.side_env) if sample.side_env else Path(sys.executable)
    script = tmp_path / "sample.py"
    script.write_text(sample.body.replace("127.0.0.1:8080", f"127.0.0.1:{default_proxy.port}"))
    ran = _run([str(python), str(script)], env={**ENV, **OFFLINE} if sample.side_env else ENV)
    assert ran.returncode == 0, f"{ran.stdout}\n{ran.stderr}"


def _merge(base: Any, part: Any) -> Any:
    if isinstance(base, dict) and isinstance(part, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in part.items()}}
    return part


@pytest.mark.parametrize("sample", list(samples("yaml")))
def test_yaml_samples_pass_crosswalk_check(sample: Sample, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if sample.skip:
        pytest.skip(sample.skip)
    config = yaml.safe_load(sample.body)
    assert isinstance(config, dict), "a config sample is a mapping"
    whole = config if "providers" in config and "steps" in config else _merge(yaml.safe_load((ROOT / "config" / "default.yaml").read_text()), config)
    path = tmp_path / "sample.yaml"
    path.write_text(yaml.safe_dump(whole))
    from crosswalk.router.cli import main

    with pytest.MonkeyPatch.context() as env:  # the variables a sample's ${...} may name
        for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
            env.setenv(name, ENV[name])
        assert main(["check", str(path)]) == 0, capsys.readouterr()


@pytest.mark.parametrize("sample", list(samples("console")))
def test_console_samples_run(sample: Sample) -> None:
    if sample.skip:
        pytest.skip(sample.skip)
    commands = [line[2:] for line in sample.body.splitlines() if line.startswith("$ crosswalk ")]
    assert commands, "a console sample shows at least one `$ crosswalk ...` line"
    for command in commands:
        ran = _run([sys.executable, "-m", "crosswalk.router.cli", *command.split()[1:]])
        assert ran.returncode == 0, f"{command}\n{ran.stdout}\n{ran.stderr}"


@pytest.mark.parametrize("sample", list(samples("bash")))
def test_bash_samples_name_only_options_the_cli_has(sample: Sample) -> None:
    if sample.skip:
        pytest.skip(sample.skip)
    import shlex

    from crosswalk.router.cli import parser

    lines = [line.split("#", 1)[0].strip() for line in sample.body.replace("\\\n", " ").splitlines()]
    commands = [shlex.split(line) for line in lines if line]
    crosswalk = []
    for words in commands:
        while words and "=" in words[0] and not words[0].startswith("-"):  # VAR=value before the command
            words = words[1:]
        if words and words[0] == "crosswalk":
            crosswalk.append(words)
    if not crosswalk:
        pytest.skip("no `crosswalk` command in this block (make, pip or another program's lines)")
    for words in crosswalk:
        args = ["KEY" if w.startswith("$") else w for w in words[1:]]
        try:
            parser().parse_args(args)
        except SystemExit as exc:  # argparse's way of saying an option or value is wrong
            pytest.fail(f"`crosswalk {' '.join(args)}` does not parse (exit {exc.code})")
