"""Loading a config file: the YAML is parsed once, the parser asks for the compliance feed
by the name it found, and the reload watcher still sees the feed change."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from crosswalk.policies.errors import ConfigError
from crosswalk.policies.parse import parse_config
from crosswalk.router import configfile
from crosswalk.router.configfile import feed_path, load_config
from crosswalk.router.reload import _fingerprint

CONFIG = dedent("""
    providers:
      a: {kind: simulated, model: m, vendor: va}
    steps:
      s: {providers: [a]}
    compliance:
      embargo_file: %s
""")
FEED = '- {model: "m*", since: 2026-01-01, reason: "export-control review"}\n'


def test_the_parser_asks_for_the_feed_once_by_its_interpolated_name():
    asked: list[str] = []

    def read_feed(name: str) -> str | None:
        asked.append(name)
        return FEED

    config = parse_config(CONFIG % "${FEEDS:-feeds}/embargo.yaml", env={}, read_feed=read_feed)
    assert asked == ["feeds/embargo.yaml"]
    assert [e.reason for e in config.compliance.embargo] == ["export-control review"]


def test_no_feed_named_no_feed_read():
    text = CONFIG.replace("compliance:\n  embargo_file: %s\n", "")
    config = parse_config(text, env={}, read_feed=lambda name: pytest.fail(f"asked for {name}"))
    assert config.compliance.embargo == []


@pytest.mark.parametrize("read_feed", [None, lambda name: None], ids=["no reader", "unreadable"])
def test_an_unreadable_feed_names_the_field(read_feed):
    with pytest.raises(ConfigError, match=r"compliance.embargo_file \(feed.yaml\): the file cannot be read"):
        parse_config(CONFIG % "feed.yaml", env={}, read_feed=read_feed)


def test_load_config_parses_the_file_once(tmp_path, monkeypatch):
    (tmp_path / "feed.yaml").write_text(FEED)
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG % "feed.yaml")
    reads: list[Path] = []
    real_read = configfile.read_text

    def counting_read(path: Path, **kwargs: object) -> str:
        reads.append(path)
        return real_read(path, **kwargs)  # type: ignore[arg-type]

    # feed_path (its own YAML parse of the file) is the reload watcher's alone now.
    monkeypatch.setattr(configfile, "feed_path", lambda *a: pytest.fail("load_config parsed the file a second time"))
    monkeypatch.setattr(configfile, "read_text", counting_read)
    config = load_config(path, env={})
    assert reads == [path, tmp_path / "feed.yaml"], "the config file once, then the feed it names"
    assert [e.reason for e in config.compliance.embargo] == ["export-control review"]


def test_the_reload_fingerprint_follows_the_feed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG % "feed.yaml")
    assert feed_path(path) == tmp_path / "feed.yaml"
    missing = _fingerprint(path)
    (tmp_path / "feed.yaml").write_text(FEED)
    first = _fingerprint(path)
    (tmp_path / "feed.yaml").write_text(FEED.replace("review", "hold"))
    assert len({missing, first, _fingerprint(path)}) == 3
