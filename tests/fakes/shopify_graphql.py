"""The Admin GraphQL part of the fake Shopify: parser, projection, query cost and root fields.

Root fields are looked up in two tables keyed by field name, so another module adds one with
a single line::

    QUERY_FIELDS["orders"] = resolve_orders

A resolver is ``resolver(ctx: Root, args: dict[str, Any]) -> Any``. ``ctx.fake`` is the
:class:`~tests.fakes.shopify.FakeShopify`, ``ctx.shop`` the shop of the request (answer only
with that shop's data). It returns plain JSON-like data; a value that is itself callable
(``args -> value``) is a field taking arguments, such as a nested connection made with
:func:`connection`. The answer is projected to the selected fields afterwards, and the
query's cost is computed from the selection (``first:`` arguments), as Shopify does.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.shopify import FakeShopify

MAX_PAGE = 250
MAX_QUERY_COST = 1000  # Shopify refuses a single query that asks for more
MUTATION_COST = 10


class GraphQLError(Exception):
    def __init__(self, message: str, code: str = "badRequest") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Root:
    """What a root-field resolver knows about the request."""

    fake: FakeShopify
    shop: str
    bulk: bool = False  # inside a bulk operation: connections need no ``first`` and page all


Resolver = Callable[[Root, dict[str, Any]], Any]
QUERY_FIELDS: dict[str, Resolver] = {}
MUTATION_FIELDS: dict[str, Resolver] = {}


# --- connections -----------------------------------------------------------------------------


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"i": index}).encode()).decode()


def connection(items: list[Any], args: dict[str, Any], *, bulk: bool = False) -> dict[str, Any]:
    """One page of ``items``: ``first`` is required (as on Shopify, except in bulk
    operations, which page through everything), ``after`` a cursor from an earlier page."""
    first = args.get("first")
    if bulk:
        first = len(items)
    elif not isinstance(first, int) or not 0 <= first <= MAX_PAGE:
        raise GraphQLError(f"you must provide first between 0 and {MAX_PAGE}")
    start = 0
    if args.get("after") is not None and not bulk:
        try:
            start = json.loads(base64.urlsafe_b64decode(str(args["after"])))["i"] + 1
        except (ValueError, KeyError, TypeError):
            raise GraphQLError("Invalid cursor for current pagination sort.") from None
    page = list(enumerate(items))[start : start + first]
    return {
        "edges": [{"cursor": _cursor(i), "node": node} for i, node in page],
        "nodes": [node for _, node in page],
        "pageInfo": {
            "hasNextPage": start + len(page) < len(items),
            "hasPreviousPage": start > 0,
            "startCursor": _cursor(page[0][0]) if page else None,
            "endCursor": _cursor(page[-1][0]) if page else None,
        },
    }


def connection_field(items: list[Any], *, bulk: bool = False) -> Callable[[dict[str, Any]], Any]:
    """A nested connection field (such as ``Product.variants``) over ``items``."""
    return lambda args: connection(items, args, bulk=bulk)


# --- parsing ---------------------------------------------------------------------------------

# (key, field name, args, children). An inline fragment ``... on Type { }`` is
# ("...", "Type", {}, children).
Selection = tuple[str, str, dict[str, Any], list[Any]]


@dataclass(frozen=True)
class Operation:
    kind: str  # "query" or "mutation"
    selections: list[Selection]


class Parser:
    """Just enough GraphQL: one operation, fields, aliases, arguments, $variables and inline
    fragments."""

    TOKEN = re.compile(r'\s+|,|#[^\n]*|(\.\.\.|[{}():$!\[\]=@]|"(?:\\.|[^"\\])*"|[\w.-]+)')

    def __init__(self, source: str, variables: dict[str, Any]) -> None:
        self.variables, self.tokens, self.i, pos = variables, list[str](), 0, 0
        while pos < len(source):
            match = self.TOKEN.match(source, pos)
            if match is None:
                raise GraphQLError(f"Parse error on {source[pos]!r} at {pos}", "parseError")
            self.tokens += [match.group(1)] if match.group(1) else []
            pos = match.end()

    def take(self, expected: str | None = None) -> str:
        token = self.tokens[self.i] if self.i < len(self.tokens) else None
        if token is None or expected not in (None, token):
            raise GraphQLError(f"Parse error: expected {expected}, got {token}", "parseError")
        self.i += 1
        return token

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def operation(self) -> Operation:
        # "query Name($first: Int!, $after: String)" before the first brace: types unchecked.
        self.i = self.tokens.index("{") if "{" in self.tokens else 0
        head = self.tokens[: self.i]
        if "subscription" in head:
            raise GraphQLError("The fake serves queries and mutations only", "parseError")
        selections = self.selection_set()
        if self.peek() is not None:
            raise GraphQLError("The fake serves one operation per document", "parseError")
        return Operation("mutation" if "mutation" in head else "query", selections)

    def selection_set(self) -> list[Selection]:
        self.take("{")
        selections: list[Selection] = []
        while self.peek() != "}":
            if self.peek() == "...":
                self.take()
                self.take("on")
                type_name = self.take()
                selections.append(("...", type_name, {}, self.selection_set()))
                continue
            key = name = self.take()
            if self.peek() == ":":
                self.take()
                name = self.take()
            args: dict[str, Any] = {}
            if self.peek() == "(":
                self.take()
                while self.peek() != ")":
                    arg = self.take()
                    self.take(":")
                    args[arg] = self.value()
                self.take(")")
            children = self.selection_set() if self.peek() == "{" else []
            selections.append((key, name, args, children))
        self.take("}")
        return selections

    def value(self) -> Any:
        token = self.take()
        if token == "$":
            return self.variables.get(self.take())
        if token.startswith('"'):
            return json.loads(token)
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        return {"true": True, "false": False, "null": None}.get(token, token)


# --- answering -------------------------------------------------------------------------------


def project(value: Any, selections: list[Selection], type_name: str) -> Any:
    """Only the selected fields of ``value``, as a GraphQL server would answer. A dict's
    ``__typename`` key names its type (for ``__typename`` and inline fragments)."""
    if isinstance(value, list):
        return [project(v, selections, type_name) for v in value]
    if isinstance(value, dict):
        type_name = value.get("__typename", type_name)
    out: dict[str, Any] = {}
    for key, name, args, children in selections:
        if key == "...":
            if type_name == name:
                out |= project(value, children, type_name)
            continue
        if name == "__typename":
            out[key] = type_name
            continue
        if not isinstance(value, dict) or name not in value:
            raise GraphQLError(
                f"Field '{name}' doesn't exist on type '{type_name}'", "undefinedField"
            )
        field = value[name]
        if callable(field):
            field = field(args)
        elif args:
            raise GraphQLError(f"Field '{name}' doesn't accept arguments", "argumentNotAccepted")
        if children and field is not None:
            field = project(field, children, name[:1].upper() + name[1:])
        elif isinstance(field, dict) and not children:
            raise GraphQLError(f"Field '{name}' must have selections", "selectionMismatch")
        out[key] = field
    return out


_WRAPPERS = ("edges", "node", "nodes")


def requested_cost(selections: list[Selection], *, mutation: bool = False) -> int:
    """Shopify's calculated cost, roughly: scalars 0, objects 1, a connection 2 plus
    ``first`` times the cost of one of its items, a mutation 10."""
    total = 0
    for _key, name, args, children in selections:
        if not children:
            continue
        inner = requested_cost(children)
        if name == "pageInfo":
            continue
        if name in _WRAPPERS:
            total += inner
        elif isinstance(args.get("first"), int):
            total += 2 + args["first"] * (1 + inner)
        else:
            total += (MUTATION_COST if mutation else 1) + inner
    return total


def actual_cost(selections: list[Selection], data: Any) -> int:
    """The same, counting the items actually returned (what Shopify finally charges)."""
    if isinstance(data, list):
        return sum(actual_cost(selections, item) for item in data)
    if not isinstance(data, dict):
        return 0
    total = 0
    for key, name, args, children in selections:
        if key == "...":
            total += actual_cost(children, data)
            continue
        value = data.get(key)
        if not children or value is None or name == "pageInfo":
            continue
        if name in _WRAPPERS:
            total += actual_cost(children, value)
        elif isinstance(args.get("first"), int) and isinstance(value, dict):
            items = value.get("nodes") or [e.get("node") for e in value.get("edges") or []]
            each = _item_selections(children)
            total += 2 + sum(1 + actual_cost(each, item) for item in items)
        else:
            total += 1 + actual_cost(children, value)
    return total


def _item_selections(children: list[Selection]) -> list[Selection]:
    """The selections of one connection item, from under ``nodes`` or ``edges { node }``."""
    out: list[Selection] = []
    for _key, name, _args, inner in children:
        if name == "nodes":
            out += inner
        elif name == "edges":
            out += [c for edge in inner if edge[1] == "node" for c in edge[3]]
    return out


def parse(query: str, variables: dict[str, Any]) -> Operation:
    """The operation in ``query``; raises :class:`GraphQLError` if the fake cannot read it."""
    return Parser(query, variables).operation()


def resolve(root: Root, operation: Operation) -> Any:
    """Answer a parsed operation from the root-field tables."""
    table = MUTATION_FIELDS if operation.kind == "mutation" else QUERY_FIELDS
    root_type = "Mutation" if operation.kind == "mutation" else "QueryRoot"
    values: dict[str, Any] = {}
    for _key, name, _args, _children in operation.selections:
        resolver = table.get(name)
        if resolver is None and name != "__typename":
            raise GraphQLError(
                f"Field '{name}' doesn't exist on type '{root_type}'", "undefinedField"
            )
        if resolver is not None:
            values[name] = _bind(resolver, root)
    return project(values, operation.selections, root_type)


def _bind(resolver: Resolver, root: Root) -> Callable[[dict[str, Any]], Any]:
    return lambda args: resolver(root, args)


# --- bulk operation results ------------------------------------------------------------------


def jsonl_lines(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A bulk query's answer as Shopify writes its JSONL: the nodes of the top connection,
    each followed by the nodes of its nested connections with ``__parentId``."""
    lines: list[dict[str, Any]] = []
    for top in data.values():
        if isinstance(top, dict):
            for node in _nodes(top):
                _flatten(node, None, lines)
    return lines


def _nodes(conn: dict[str, Any]) -> list[Any]:
    if "nodes" in conn:
        return list(conn["nodes"])
    return [edge["node"] for edge in conn.get("edges") or []]


def _flatten(node: dict[str, Any], parent: str | None, lines: list[dict[str, Any]]) -> None:
    own = {k: v for k, v in node.items() if not _is_connection(v)}
    if parent is not None:
        own["__parentId"] = parent
    lines.append(own)
    for value in node.values():
        if _is_connection(value):
            for child in _nodes(value):
                _flatten(child, node.get("id"), lines)


def _is_connection(value: Any) -> bool:
    return isinstance(value, dict) and ("edges" in value or "nodes" in value)
