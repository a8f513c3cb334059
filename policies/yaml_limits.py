"""Reading YAML an operator wrote, within bounds: a size, a nesting depth and an expanded
size (aliases counted as the copies they stand for), so that no file content can exhaust
the stack (3,000 nested lists), memory and time (a 385-byte alias bomb expands to
millions of nodes), or escape as anything but a `ConfigError` naming the file.

Pure: the caller reads the bytes; this decodes and parses them."""

from __future__ import annotations

from typing import Any

import yaml

from crosswalk.policies.errors import ConfigError

MAX_DEPTH = 64  # a config nests about 6 deep; a JSON schema in a validator a few more
MAX_NODES = 100_000  # nodes after alias expansion: a large config has a few thousand


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing documents nested deeper than MAX_DEPTH while it composes
    them (the composer recurses once per level: the check comes before the stack runs out)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: ANN401 (PyYAML's signature)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(f"line {mark.line + 1}: nested more than {MAX_DEPTH} levels deep; flatten the file")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Refused(Exception):
    """A limit was reached (the message says which and where)."""


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has once every alias is replaced by a copy of what it
    names: counted over the shared graph (each node once, with its subtree's size memoized),
    so a bomb is measured without being expanded. Iterative: depth is already bounded, but
    the count must not recurse either."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        kids = _children(node)
        if children_done or not kids:
            sizes[id(node)] = min(1 + sum(sizes[id(k)] for k in kids), MAX_NODES + 1)
            continue
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def decode(data: bytes, *, what: str, max_bytes: int) -> str:
    """The file's bytes as text, or a ConfigError saying what is wrong (too large, not UTF-8)."""
    if len(data) > max_bytes:
        raise ConfigError([f"larger than {max_bytes:,} bytes; is it the right file?"], source=what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"not UTF-8 text (byte {exc.start} is {data[exc.start:exc.start + 1]!r}); "
                           "save the file as UTF-8"], source=what) from None


def load_yaml(text: str, *, source: str, where: str = "") -> Any:
    """Parse one YAML document within the limits. Every failure (syntax, depth, expanded
    size, an unhashable key...) is a ConfigError of `source`; `where` prefixes each problem
    (e.g. the config key that named a feed)."""
    prefix = f"{where}: " if where else ""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise _Refused(f"more than {MAX_NODES:,} values once its aliases (*name) are expanded; "
                           "an alias bomb? write the values out, or use fewer aliases")
        return loader.construct_document(node)
    except _Refused as exc:
        raise ConfigError([f"{prefix}{exc}"], source=source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        raise ConfigError([f"{prefix}{at}: not valid YAML ({getattr(exc, 'problem', None) or exc})"], source=source) from None
    except (TypeError, ValueError, RecursionError) as exc:  # e.g. a list used as a mapping key
        raise ConfigError([f"{prefix}cannot be read as YAML ({type(exc).__name__}: {exc})"], source=source) from None
    finally:
        loader.dispose()
