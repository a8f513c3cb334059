"""Reading a config file from disk with the process environment (the I/O half of loading;
parsing and validation are `policies.config`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from crosswalk.policies.config import ConfigError, RouterConfig, parse_config

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "default.yaml"


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """The file to load: the given path, else $CROSSWALK_CONFIG, else the embedded default."""
    if path is not None:
        return Path(path)
    env = os.environ.get("CROSSWALK_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def feed_path(config_path: Path, text: str | None = None) -> Path | None:
    """The compliance feed (compliance.embargo_file) a config file names, resolved against
    the config file's folder; None when it names none (or cannot be read)."""
    import yaml

    try:
        raw = yaml.safe_load(text if text is not None else config_path.read_text(encoding="utf-8"))
        name = raw["compliance"]["embargo_file"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    if not isinstance(name, str) or not name:
        return None
    feed = Path(name)
    return feed if feed.is_absolute() else config_path.parent / feed


def load_config(path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None) -> RouterConfig:
    """Read, interpolate `${ENV}`, read the compliance feed if any, validate. Raises
    `ConfigError` naming every problem."""
    p = resolve_path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read the file ({exc.strerror or exc}); pass --config or set CROSSWALK_CONFIG"], source=str(p)) from None
    feed = feed_path(p, text)
    feed_text = None
    if feed is not None:
        try:
            feed_text = feed.read_text(encoding="utf-8")
        except OSError:
            feed_text = None  # parse_config names the field and the fix
    config = parse_config(text, source=str(p), env=os.environ if env is None else env, feed_text=feed_text)
    missing = missing_extras(config)
    if missing:
        raise ConfigError(missing, source=str(p))
    return config


def missing_extras(config: RouterConfig) -> list[str]:
    """Problems for config features whose optional dependency is not installed (the lean
    core has neither litellm nor redis): each names the field and the extra to install."""
    from importlib.util import find_spec

    problems = []
    if find_spec("litellm") is None:
        problems += [
            f"providers.{name}.kind: 'litellm' needs the litellm extra; pip install 'crosswalk-router[litellm]'"
            for name, p in config.providers.items() if p.kind == "litellm"
        ]
    if config.state.backend == "redis" and find_spec("redis") is None:
        problems.append("state.backend: 'redis' needs the redis extra; pip install 'crosswalk-router[redis]'")
    return problems
