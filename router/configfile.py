"""Reading a config file from disk with the process environment (the I/O half of loading;
parsing and validation are `policies.parse`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from crosswalk.policies.config import RouterConfig
from crosswalk.policies.errors import ConfigError
from crosswalk.policies.parse import parse_config
from crosswalk.policies.yaml_limits import decode, load_yaml

MAX_CONFIG_BYTES = 1024 * 1024  # a config is a few KiB; a megabyte is another file named by mistake
MAX_FEED_BYTES = 8 * 1024 * 1024  # a compliance feed may list many entries
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "default.yaml"


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """The file to load: the given path, else $CROSSWALK_CONFIG, else the embedded default."""
    if path is not None:
        return Path(path)
    env = os.environ.get("CROSSWALK_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def read_text(path: Path, *, max_bytes: int = MAX_CONFIG_BYTES) -> str:
    """A config (or feed) file's text: at most `max_bytes`, UTF-8, else a ConfigError
    naming the file (an OSError is left to the caller, which knows what to advise)."""
    with path.open("rb") as fh:
        data = fh.read(max_bytes + 1)
    return decode(data, what=str(path), max_bytes=max_bytes)


def feed_path(config_path: Path) -> Path | None:
    """The compliance feed (compliance.embargo_file) a config file names, resolved against
    the config file's folder; None when it names none (or cannot be read). For the reload
    watcher, which must see a feed change even while the file around it is invalid."""
    try:
        raw = load_yaml(read_text(config_path), source=str(config_path))
        name = raw["compliance"]["embargo_file"]
    except (OSError, ConfigError, KeyError, TypeError, IndexError):
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
        text = read_text(p)
    except OSError as exc:
        named = " (named by $CROSSWALK_CONFIG)" if path is None and os.environ.get("CROSSWALK_CONFIG") else ""
        raise ConfigError([f"cannot read the file{named} ({exc.strerror or exc}); check the path"], source=str(p)) from None

    def read_feed(name: str) -> str | None:
        feed = _beside(p, name)
        try:
            return read_text(feed, max_bytes=MAX_FEED_BYTES)
        except OSError:
            return None  # parse_config names the field and the fix
        except ConfigError as exc:  # too large or not UTF-8: the config key that names it, then why
            raise ConfigError([f"compliance.embargo_file ({feed}): {problem}" for problem in exc.problems],
                              source=str(p)) from None

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
