"""Loading a YAML file into a validated model, with errors that name the line.

A network engineer who mistypes a key must read which file, which line, which
key and what was expected, not a pydantic traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration file that cannot be used; the message is meant for the user."""


def _line_map(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict:
    """Maps each key path of a YAML document to the line (1-based) where it stands."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, key.value)
            out[sub] = key.start_mark.line + 1
            _line_map(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = (*path, i)
            out[sub] = item.start_mark.line + 1
            _line_map(item, sub, out)
    return out


def _describe(err: ValidationError, source: str, lines: dict) -> str:
    messages = []
    for e in err.errors():
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x.startswith("function-")))
        line = None
        for n in range(len(loc), 0, -1):
            if loc[:n] in lines:
                line = lines[loc[:n]]
                break
        key = ".".join(str(x) for x in loc) or "(top level)"
        where = f"{source}:{line}" if line else source
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see `routepilot config dump` for valid keys)"
        messages.append(f"{where}: {key}: {msg}")
    return "\n".join(messages)


def load_text(text: str, model: type[M], source: str = "<string>") -> M:
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, _line_map(node) if node else {})) from None


def validate(data: object, model: type[M], source: str = "<data>") -> M:
    """A model from already-parsed data (a JSON request body), with the same
    ``source: key: what`` errors as a file, without line numbers."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, {})) from None


def load_file(path: str | Path, model: type[M]) -> M:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    return load_text(text, model, str(p))


def dump_yaml(model: BaseModel) -> str:
    return yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False)
