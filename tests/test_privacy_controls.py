"""docs/privacy-controls.md is complete and true: every clause of the privacy policy has a
row, every row names code that exists and tests that exist. And the one clause no other
test can prove from inside: the code talks to no third party but the processors the policy
names."""

from __future__ import annotations

import ast
import importlib
import re
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from taskra_core.privacy.policy import clauses

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "privacy-controls.md"
CODE_REF = re.compile(r"`([\w./-]+(?::[\w.]+)?)`")
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def rows() -> list[tuple[str, str, str]]:
    """(clause, enforced by, proven by) for every row of the table."""
    found = []
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("§"):
            found.append((cells[0], cells[1], cells[2]))
    return found


@cache
def functions_in(path: str) -> frozenset[str]:
    tree = ast.parse((REPO / path).read_text())
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )


def resolves(ref: str) -> bool:
    if ":" not in ref:
        return (REPO / ref).exists()
    module, _, attribute = ref.partition(":")
    target: object = importlib.import_module(module)
    for part in attribute.split("."):
        if not hasattr(target, part):
            return False
        target = getattr(target, part)
    return True


def test_every_clause_has_a_row_naming_code_and_tests_that_exist() -> None:
    """A clause without a row, a row without code or tests, a named module, attribute,
    file, test file or test function that does not exist: each fails here."""
    table = rows()
    problems = []
    for number, clause in clauses():
        matching = [row for row in table if row[0] == f"§{number} {clause}"]
        if len(matching) != 1:
            problems.append(f"§{number} has {len(matching)} rows for: {clause[:60]}")
    policy = {f"§{number} {clause}" for number, clause in clauses()}
    problems += [f"row for no clause: {row[0][:60]}" for row in table if row[0] not in policy]
    for clause, code, proof in table:
        code_refs = CODE_REF.findall(code)
        test_refs = TEST_REF.findall(proof)
        if not code_refs:
            problems.append(f"no code for {clause[:40]}")
        if not test_refs:
            problems.append(f"no test for {clause[:40]}")
        problems += [f"missing code {ref}" for ref in code_refs if not resolves(ref)]
        for path, name in test_refs:
            if not (REPO / path).exists():
                problems.append(f"missing test file {path}")
            elif name not in functions_in(path):
                problems.append(f"missing test {path}::{name}")
    assert len(table) >= 30
    assert problems == []


# The processors the policy names (section 5), by the hosts their APIs live on; Shopify's
# admin and CDN (App Bridge, Polaris) are Shopify's own.
PROCESSOR_HOSTS = {
    "api.anthropic.com",
    "api.stripe.com",
    "api.resend.com",
    "admin.shopify.com",
    "cdn.shopify.com",
}
# Not hosts: the app's own address, placeholders in docstrings and format strings.
NOT_THIRD_PARTIES = {"127.0.0.1", "localhost", "internal", "app.example", "taskra_host"}


def test_the_code_talks_only_to_the_processors_the_policy_names() -> None:
    """Every URL in the shipped code and pages points at Taskra itself, a shop
    (``*.myshopify.com``) or a processor the policy names; Anthropic is reached through its
    SDK's default address, which the SDK itself fixes."""
    import anthropic

    hosts = set()
    roots = ("taskra_core", "taskra_shopify", "channels", "templates")
    for root in roots:
        for path in (REPO / root).rglob("*"):
            if path.suffix not in {".py", ".html", ".js", ".txt"} or "demo" in path.parts:
                continue
            for url in re.findall(r"https?://[^\s\"'<>)`]+", path.read_text()):
                host = urlsplit(url).hostname or ""
                if host and "{" not in url.split("/")[2]:
                    hosts.add(host)
    third_parties = {
        h
        for h in hosts - NOT_THIRD_PARTIES
        if not h.endswith(".myshopify.com") and not h.endswith("taskra.ai")
    }
    assert hosts  # the scan found the URLs that are there
    assert third_parties <= PROCESSOR_HOSTS, third_parties - PROCESSOR_HOSTS
    assert urlsplit(str(anthropic.Anthropic(api_key="x").base_url)).hostname == "api.anthropic.com"
