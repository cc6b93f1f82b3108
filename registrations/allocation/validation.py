"""A small, fast validator for the subset of JSON Schema (draft 2020-12) used by the schemas.

``jsonschema`` is not installed in this project, so this module implements exactly the
keywords that ``schema/market.schema.json`` and ``schema/result.schema.json`` use, with the
semantics of draft 2020-12:

* ``$ref`` (local references ``#/$defs/<name>`` only), ``$defs``
* ``type`` (a name or a list of names; ``integer`` accepts ``3.0`` but never ``true``;
  ``number`` must be finite)
* ``enum``, ``const`` (JSON equality: ``1 == 1.0``, ``true != 1``)
* ``properties``, ``required``, ``additionalProperties`` (``false`` or a schema)
* ``items`` (one schema for every element), ``minItems``, ``maxItems``, ``uniqueItems``
* ``minimum``, ``maximum``, ``exclusiveMinimum``
* ``minLength``, ``maxLength``, ``pattern`` (unanchored, as in the spec)
* annotations, ignored: ``$schema``, ``$id``, ``$comment``, ``title``, ``description``,
  ``default``, ``examples``, ``format`` (an annotation in 2020-12; the market loader checks
  dates itself)

A schema that uses any other keyword is rejected when it is compiled, so a schema can never
silently rely on a keyword this validator ignores.

The schema is translated once into Python source (one function per ``$defs`` entry, every
other keyword inlined) and compiled; validating a large market costs a few microseconds
per child. The first violation raises :class:`SchemaViolation`, which carries the JSON path
of the offending value, rendered like ``children[3].wishes[1].facility``. The path is
collected only on failure, by ``except`` clauses that cost nothing on success.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "format"}
)
_SUPPORTED = _ANNOTATIONS | {
    "$ref",
    "$defs",
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "minLength",
    "maxLength",
    "pattern",
}
_TYPES = ("object", "array", "string", "boolean", "null", "integer", "number")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SchemaViolation(ValueError):
    """A value does not conform to the schema.

    ``path`` lists the keys and indexes from the document root to the offending value.
    ``str()`` gives ``"<path>: <message>"``.
    """

    def __init__(self, message: str, path: Sequence[str | int] = ()) -> None:
        super().__init__(message)
        self.message = message
        self._reversed_path: list[str | int] = list(reversed(path))

    @property
    def path(self) -> list[str | int]:
        return list(reversed(self._reversed_path))

    def prepend(self, key: str | int) -> None:
        self._reversed_path.append(key)

    def __str__(self) -> str:
        return f"{format_path(self.path)}: {self.message}"


def format_path(path: Sequence[str | int]) -> str:
    """Render a JSON path as ``children[3].wishes[1].facility`` (``(root)`` when empty)."""
    parts: list[str] = []
    for key in path:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif _IDENTIFIER.match(key):
            parts.append(f".{key}" if parts else key)
        else:
            parts.append(f"[{key!r}]")
    return "".join(parts) or "(root)"


# -- helpers called from the generated code ----------------------------------------------


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_integer(value: Any) -> bool:
    cls = value.__class__
    if cls is int:
        return True
    if cls is float:
        return math.isfinite(value) and value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    cls = value.__class__
    if cls is int:
        return True
    if cls is float:
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def _is_numeric(value: Any) -> bool:
    """Whether the numeric keywords (minimum, ...) apply to ``value``."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _in_enum(value: Any, options: frozenset[tuple[bool, Any]]) -> bool:
    if isinstance(value, dict | list):
        return False
    return (isinstance(value, bool), value) in options


def _type_error(value: Any, label: str) -> SchemaViolation:
    return SchemaViolation(f"{_short(value)} is not of type {label}")


def _enum_error(value: Any, options: list[Any], const: bool) -> SchemaViolation:
    if const:
        return SchemaViolation(f"{options[0]!r} was expected, got {_short(value)}")
    listed = ", ".join(repr(o) for o in options)
    return SchemaViolation(f"{_short(value)} is not one of [{listed}]")


def _missing_error(value: dict[str, Any], required: Sequence[str]) -> SchemaViolation:
    key = next(k for k in required if k not in value)
    return SchemaViolation(f"{key!r} is a required property")


def _unexpected_error(value: dict[str, Any], allowed: frozenset[str]) -> SchemaViolation:
    unexpected = sorted(str(k) for k in value if k not in allowed)
    names = ", ".join(repr(k) for k in unexpected)
    return SchemaViolation(f"Additional properties are not allowed ({names} unexpected)")


def _check_unique(value: list[Any]) -> None:
    seen: dict[Any, int] = {}
    for index, item in enumerate(value):
        key = repr(item) if isinstance(item, dict | list) else (isinstance(item, bool), item)
        if key in seen:
            error = SchemaViolation(f"{_short(item)} is not unique (also at index {seen[key]})")
            error.prepend(index)
            raise error
        seen[key] = index


# -- code generation ---------------------------------------------------------------------


class _Generator:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.namespace: dict[str, Any] = {
            "_SV": SchemaViolation,
            "_short": _short,
            "_is_integer": _is_integer,
            "_is_number": _is_number,
            "_is_numeric": _is_numeric,
            "_in_enum": _in_enum,
            "_type_error": _type_error,
            "_enum_error": _enum_error,
            "_missing_error": _missing_error,
            "_unexpected_error": _unexpected_error,
            "_check_unique": _check_unique,
        }
        self.functions: list[list[str]] = []
        self.defs: dict[str, str] = {}
        self.expanding: set[str] = set()
        self.counter = 0

    def constant(self, value: Any) -> str:
        self.counter += 1
        name = f"_c{self.counter}"
        self.namespace[name] = value
        return name

    def function(self, schema: dict[str, Any] | bool, name: str) -> str:
        lines = [f"def {name}(v0):"]
        body = self.node(schema, "v0", "    ", 0)
        lines.extend(body or ["    pass"])
        self.functions.append(lines)
        return name

    def ref(self, ref: str, v: str, ind: str, depth: int) -> list[str]:
        """Inline the referenced definition; a recursive one becomes a function call."""
        prefix = "#/$defs/"
        if not ref.startswith(prefix):
            raise ValueError(f"only local $refs of the form {prefix}<name> are supported: {ref}")
        name = ref[len(prefix) :]
        definitions = self.root.get("$defs", {})
        if name not in definitions:
            raise ValueError(f"unresolvable $ref {ref}")
        if name not in self.expanding:
            self.expanding.add(name)
            try:
                return self.node(definitions[name], v, ind, depth)
            finally:
                self.expanding.discard(name)
        if name not in self.defs:
            function = f"_def_{len(self.defs)}"
            self.defs[name] = function  # registered first, so recursion terminates
            self.function(definitions[name], function)
        return [f"{ind}{self.defs[name]}({v})"]

    def node(self, schema: dict[str, Any] | bool, v: str, ind: str, depth: int) -> list[str]:
        """Source lines that check variable ``v`` against ``schema``."""
        if schema is True:
            return []
        if schema is False:
            return [f"{ind}raise _SV('no value is allowed here')"]
        unknown = set(schema) - _SUPPORTED
        if unknown:
            raise ValueError(f"unsupported JSON Schema keywords: {sorted(unknown)}")
        out: list[str] = []
        if "$ref" in schema:
            out += self.ref(schema["$ref"], v, ind, depth)
        if "type" in schema:
            out += self.type_check(schema["type"], v, ind)
        if "enum" in schema or "const" in schema:
            const = "enum" not in schema
            options = [schema["const"]] if const else list(schema["enum"])
            keyed = frozenset(
                (isinstance(o, bool), o) for o in options if not isinstance(o, dict | list)
            )
            out += [
                f"{ind}if not _in_enum({v}, {self.constant(keyed)}):",
                f"{ind}    raise _enum_error({v}, {self.constant(options)}, {const})",
            ]
        if any(k in schema for k in ("properties", "required", "additionalProperties")):
            out += self.object_check(schema, v, ind, depth)
        if any(k in schema for k in ("items", "minItems", "maxItems", "uniqueItems")):
            out += self.array_check(schema, v, ind, depth)
        if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum")):
            out += self.number_check(schema, v, ind)
        if any(k in schema for k in ("minLength", "maxLength", "pattern")):
            out += self.string_check(schema, v, ind)
        return out

    def type_check(self, spec: str | list[str], v: str, ind: str) -> list[str]:
        names = [spec] if isinstance(spec, str) else list(spec)
        conditions = []
        for name in names:
            if name not in _TYPES:
                raise ValueError(f"unknown JSON Schema type {name!r}")
            conditions.append(
                {
                    "object": f"isinstance({v}, dict)",
                    "array": f"isinstance({v}, list)",
                    "string": f"isinstance({v}, str)",
                    "boolean": f"({v} is True or {v} is False)",
                    "null": f"{v} is None",
                    "integer": f"_is_integer({v})",
                    "number": f"_is_number({v})",
                }[name]
            )
        label = " or ".join(repr(n) for n in names)
        return [
            f"{ind}if not ({' or '.join(conditions)}):",
            f"{ind}    raise _type_error({v}, {label!r})",
        ]

    def object_check(self, schema: dict[str, Any], v: str, ind: str, depth: int) -> list[str]:
        properties = schema.get("properties", {})
        required = list(schema.get("required", []))
        additional = schema.get("additionalProperties", True)
        out = [f"{ind}if isinstance({v}, dict):"]
        inner = ind + "    "
        if required:
            present = " and ".join(f"{key!r} in {v}" for key in required)
            out += [
                f"{inner}if not ({present}):",
                f"{inner}    raise _missing_error({v}, {self.constant(required)})",
            ]
        allowed = self.constant(frozenset(properties))
        if additional is False:
            out += [
                f"{inner}if not {allowed}.issuperset({v}):",
                f"{inner}    raise _unexpected_error({v}, {allowed})",
            ]
        child = f"v{depth + 1}"
        for key, subschema in properties.items():
            # Required keys are known to be present; optional ones are looked up first.
            pad = inner if key in required else inner + "    "
            body = self.node(subschema, child, pad + "    ", depth + 1)
            if not body:
                continue
            if key not in required:
                out += [f"{inner}if {key!r} in {v}:"]
            out += [f"{pad}{child} = {v}[{key!r}]", f"{pad}try:"]
            out += body
            out += [
                f"{pad}except _SV as error:",
                f"{pad}    error.prepend({key!r})",
                f"{pad}    raise",
            ]
        if not isinstance(additional, bool):
            body = self.node(additional, child, inner + "        ", depth + 1)
            if body:
                key_var = f"k{depth + 1}"
                out += [f"{inner}for {key_var}, {child} in {v}.items():"]
                out += [f"{inner}    if {key_var} in {allowed}:", f"{inner}        continue"]
                out += [f"{inner}    try:"]
                out += body
                out += [
                    f"{inner}    except _SV as error:",
                    f"{inner}        error.prepend({key_var})",
                    f"{inner}        raise",
                ]
        return out

    def array_check(self, schema: dict[str, Any], v: str, ind: str, depth: int) -> list[str]:
        out = [f"{ind}if isinstance({v}, list):"]
        inner = ind + "    "
        if "minItems" in schema:
            low = int(schema["minItems"])
            out += [
                f"{inner}if len({v}) < {low}:",
                f"{inner}    raise _SV(f'expected at least {low} items, got {{len({v})}}')",
            ]
        if "maxItems" in schema:
            high = int(schema["maxItems"])
            out += [
                f"{inner}if len({v}) > {high}:",
                f"{inner}    raise _SV(f'expected at most {high} items, got {{len({v})}}')",
            ]
        if "items" in schema:
            child, index = f"v{depth + 1}", f"i{depth + 1}"
            body = self.node(schema["items"], child, inner + "        ", depth + 1)
            if body:
                out += [f"{inner}{index} = 0", f"{inner}try:"]
                out += [f"{inner}    for {index}, {child} in enumerate({v}):"]
                out += body
                out += [
                    f"{inner}except _SV as error:",
                    f"{inner}    error.prepend({index})",
                    f"{inner}    raise",
                ]
        if schema.get("uniqueItems"):
            out += [f"{inner}_check_unique({v})"]
        return out

    def number_check(self, schema: dict[str, Any], v: str, ind: str) -> list[str]:
        out = [f"{ind}if _is_numeric({v}):"]
        inner = ind + "    "
        for keyword, operator, text in (
            ("minimum", "<", "is less than the minimum of"),
            ("maximum", ">", "is greater than the maximum of"),
            ("exclusiveMinimum", "<=", "is less than or equal to the minimum of"),
        ):
            if keyword in schema:
                bound = schema[keyword]
                out += [
                    f"{inner}if {v} {operator} {bound!r}:",
                    f"{inner}    raise _SV(f'{{{v}!r}} {text} {bound!r}')",
                ]
        return out

    def string_check(self, schema: dict[str, Any], v: str, ind: str) -> list[str]:
        out = [f"{ind}if isinstance({v}, str):"]
        inner = ind + "    "
        if "minLength" in schema:
            low = int(schema["minLength"])
            out += [
                f"{inner}if len({v}) < {low}:",
                f"{inner}    raise _SV(_short({v}) + ' is shorter than {low} characters')",
            ]
        if "maxLength" in schema:
            high = int(schema["maxLength"])
            out += [
                f"{inner}if len({v}) > {high}:",
                f"{inner}    raise _SV(_short({v}) + ' is longer than {high} characters')",
            ]
        if "pattern" in schema:
            pattern = self.constant(re.compile(schema["pattern"]))
            message = self.constant(f" does not match {schema['pattern']!r}")
            out += [
                f"{inner}if not {pattern}.search({v}):",
                f"{inner}    raise _SV(_short({v}) + {message})",
            ]
        return out


class Validator:
    """A compiled schema. ``validate(document)`` raises :class:`SchemaViolation`."""

    def __init__(self, schema: dict[str, Any]) -> None:
        generator = _Generator(schema)
        generator.function(schema, "_validate")
        self.source = "\n\n".join("\n".join(lines) for lines in generator.functions) + "\n"
        exec(compile(self.source, "<json-schema validator>", "exec"), generator.namespace)
        self._check: Callable[[Any], None] = generator.namespace["_validate"]

    def validate(self, document: Any) -> None:
        self._check(document)

    def errors(self, document: Any) -> list[str]:
        """The first violation as a one-element list, or ``[]`` when the document is valid."""
        try:
            self._check(document)
        except SchemaViolation as error:
            return [str(error)]
        return []
