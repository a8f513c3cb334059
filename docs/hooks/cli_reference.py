"""MkDocs hook: the CLI page's reference part, generated at build time from the CLI's own
argparse parser (crosswalk/router/cli.py `parser()`): each command's `--help`, examples
included, exactly as `crosswalk COMMAND --help` prints it, so the page and the CLI agree."""

from __future__ import annotations

import argparse
from typing import Any

PLACEHOLDER = "<!-- cli-reference -->"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the placeholder with every command's help text."""
    if PLACEHOLDER not in markdown:
        return markdown
    return markdown.replace(PLACEHOLDER, reference())


def reference() -> str:
    """One section per command: its summary and its `--help` in a code block."""
    from crosswalk.router.cli import parser

    top = parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    out = [f"```text\n{top.format_help().rstrip()}\n```\n"]
    for name, command in sub.choices.items():
        out.append(f"## crosswalk {name}\n\n{command.description or ''}\n\n```text\n{command.format_help().rstrip()}\n```\n")
    return "\n".join(out)
