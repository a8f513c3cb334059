"""Reading a config file from disk with the process environment (the I/O half of loading;
parsing and validation are `policies.parse`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from crosswalk.policies.config import RouterConfig
from crosswalk.policies.errors import ConfigError
from crosswalk.policies.parse import parse_config

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "default.yaml"


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """The file to load: the given path, else $CROSSWALK_CONFIG, else the embedded default."""
    if path is not None:
        return Path(path)
    env = os.environ.get("CROSSWALK_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def feed_path(config_path: Path) -> Path | None:
    """The compliance feed (compliance.embargo_file) a config file names, resolved against
    the config file's folder; None when it names none (or cannot be read). For the reload
    watcher, which must see a feed change even while the file around it is invalid."""
    import yaml

    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        name = raw["compliance"]["embargo_file"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    if not isinstance(name, str) or not name:
        return None
    return _beside(config_path, name)


def _beside(config_path: Path, name: str) -> Path:
    """A file the config names, relative to the config file's folder unless absolute."""
    feed = Path(name)
    return feed if feed.is_absolute() else config_path.parent / feed


def load_config(path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None) -> RouterConfig:
    """Read, interpolate `${ENV}`, read the compliance feed if any, validate. Raises
    `ConfigError` naming every problem. The YAML is parsed once: the parser asks for the
    feed by the name it found."""
    p = resolve_path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read the file ({exc.strerror or exc}); pass --config or set CROSSWALK_CONFIG"], source=str(p)) from None

    def read_feed(name: str) -> str | None:
        try:
            return _beside(p, name).read_text(encoding="utf-8")
        except OSError:
            return None  # parse_config names the field and the fix

    environ = os.environ if env is None else env
    config = parse_config(text, source=str(p), env=environ, read_feed=read_feed)
    missing = missing_extras(config) + upstream_problems(config, environ)
    if missing:
        raise ConfigError(missing, source=str(p))
    return config


def upstream_problems(config: RouterConfig, env: Mapping[str, str]) -> list[str]:
    """Proxy variables and CA bundles that cannot be used (a bundle that cannot be read, a
    proxy URL that is not http://), each naming the provider and the setting, found now
    rather than at the first call."""
    from crosswalk.router.registry import upstream_of

    problems = []
    contexts: dict[str, Any] = {}  # one load per bundle file, however many providers trust it
    for p in config.providers.values():
        if p.kind in ("openai", "anthropic") and p.base_url:
            try:
                upstream_of(p, env=env, contexts=contexts)
            except ConfigError as exc:
                problems += exc.problems
    return problems


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
