"""The docs stand alone: every relative link and image in every tracked Markdown file lands on a
file (and, with a fragment, a heading) inside the repository, and nothing in the repository sends
a reader to a file it does not hold (the brief's ``../shared/`` pages, ``POLICY.md``, ``API.md``).
The policy and the contract are ``docs/policy.md`` and ``docs/api.md``."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from pdvault.config import Settings
from pdvault.main import create_app

ROOT = Path(__file__).resolve().parents[1]

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", flags=re.S | re.M)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", flags=re.S)
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'(].*?)?\s*\)")
_REFERENCE = re.compile(r"^[ ]{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", flags=re.M)
_HTML = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*[\"']([^\"']*)[\"']", flags=re.I)
_HEADING = re.compile(r"^[ ]{0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$", flags=re.M)
_ANCHOR = re.compile(r"<a\b[^>]*\b(?:name|id)\s*=\s*[\"']([^\"']+)[\"']", flags=re.I)


def tracked(pattern: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--", pattern],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [ROOT / name for name in out.split("\0") if name and (ROOT / name).is_file()]


def markdown_files() -> list[Path]:
    return tracked("*.md")


def without_code(text: str) -> str:
    """The text with fenced blocks and code spans blanked out (links there are not links)."""
    text = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return _CODE_SPAN.sub("", text)


def links(text: str) -> list[str]:
    prose = without_code(text)
    return [m.group(1) for rx in (_INLINE, _REFERENCE, _HTML) for m in rx.finditer(prose)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its rendered text, lower-cased, punctuation dropped,
    spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    text = path.read_text(encoding="utf-8")
    prose = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    seen: dict[str, int] = {}
    out: set[str] = set(_ANCHOR.findall(prose))
    for _, heading in _HEADING.findall(prose):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return frozenset(out)


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in links(path.read_text(encoding="utf-8")):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:  # https:, mailto:, //host: not ours to check
            continue
        dest = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if not dest.is_relative_to(ROOT):
            problems.append(f"{target}: outside the repository")
        elif not dest.exists():
            problems.append(f"{target}: no such file")
        elif (
            parts.fragment
            and dest.suffix == ".md"
            and dest.is_file()
            and unquote(parts.fragment).lower() not in anchors(dest)
        ):
            problems.append(f"{target}: no heading #{parts.fragment} in {dest.name}")
    return problems


def test_the_checker_sees_links_and_anchors(tmp_path: Path) -> None:
    """The checker itself: it finds inline, image, reference and HTML links, skips code, and
    computes GitHub's heading anchors."""
    text = (
        "See [a](x.md#two-words) and ![i](img/p.png 'title') and <a href=\"h.md\">h</a>.\n"
        "`[not](a-link.md)`\n```\n[nor](this.md)\n```\n[ref]: ../out.md\n"
    )
    assert links(text) == ["x.md#two-words", "img/p.png", "../out.md", "h.md"]
    assert slug("Two words") == "two-words"
    assert slug("`GET /readyz` — ready?") == "get-readyz--ready"
    assert slug("Điều 3: lưu trữ") == "điều-3-lưu-trữ"
    doc = tmp_path / "d.md"
    doc.write_text("# Same\n## Same\n", encoding="utf-8")
    assert anchors(doc) == {"same", "same-1"}


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(path: Path) -> None:
    assert broken_links(path) == []


def test_the_policy_and_the_contract_are_the_repositorys_own() -> None:
    for name in ("docs/policy.md", "docs/api.md"):
        assert (ROOT / name).is_file(), f"{name} is missing"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/policy.md)" in readme
    assert "(docs/api.md)" in readme


# What the brief's own pages were called: a reader of the repository has none of them.
_FOREIGN = re.compile(r"\.\./shared|\bPOLICY\.md|\bAPI\.md|\bDESIGN\.md|\bSTYLE\.md")


def test_nothing_points_at_pages_the_repository_lacks() -> None:
    files = [
        p
        for pattern in ("*.md", "*.py", "*.json", "*.yml", "*.yaml", "*.toml", "*.txt", "*.cfg")
        for p in tracked(pattern)
        if p.resolve() != Path(__file__).resolve()
    ]
    assert files
    hits = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()[:100]}"
        for p in files
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if _FOREIGN.search(line)
    ]
    assert hits == []


def test_the_served_openapi_names_only_the_repositorys_docs() -> None:
    app = create_app(Settings(_env_file=None))  # type: ignore[call-arg]
    served = json.dumps(app.openapi(), ensure_ascii=False)
    assert not _FOREIGN.search(served)
    assert "docs/policy.md" in served
    committed = (ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8")
    assert not _FOREIGN.search(committed)


def test_readme_starts_with_the_two_commands_and_says_what_the_tests_cost() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    assert blocks[:2] == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/pdvault init"
        " && .venv/bin/pdvault serve\n",
        ".venv/bin/pip install -e '.[dev]' && .venv/bin/pytest\n",
    ]
    after = readme[readme.index(blocks[1]) : readme.index("## ")]
    assert re.search(r"about \d+ minutes on 2 cores", after), "say how long the suite takes"
    assert "`.venv/bin/pytest tests/customers`" in after, "say how to run one part"


_ROLES = re.compile(r"\b(admin|storefront|employee|partner|legal|dpo|auditor)\b")
_OPERATION = re.compile(r"`(?:(GET|POST|PATCH|PUT|DELETE) )?(\S*?)(?:\?[^`]*)?`")


def documented_operations() -> dict[tuple[str, str], frozenset[str] | None]:
    """docs/api.md's endpoint tables: (method, path with {} placeholders) -> roles (None for
    the public table, which has no roles column). `…/reject` repeats the previous path with
    its last segment replaced."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    endpoints = text[text.index("## Endpoints") :]
    out: dict[tuple[str, str], frozenset[str] | None] = {}
    for line in endpoints.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) < 2:
            continue
        public = len(cells) == 2
        roles = None if public else frozenset(_ROLES.findall(re.sub(r"`[^`]*`", "", cells[1])))
        method, path = "", ""
        for m in _OPERATION.finditer(cells[0]):
            if m.group(2).startswith("…/"):
                path = path.rsplit("/", 1)[0] + m.group(2)[1:]
            else:
                method, path = m.group(1) or method, m.group(2)
            out[(method, re.sub(r"\{[^}]+\}", "{}", path))] = roles
    return out


def test_the_contract_page_lists_every_served_operation_with_its_roles() -> None:
    """docs/api.md describes the API as built: every operation the app serves, with the roles
    it admits (`x-pdvault-roles`), and nothing the app does not serve."""
    served: dict[tuple[str, str], frozenset[str] | None] = {}
    for path, item in create_app(Settings(_env_file=None)).openapi()["paths"].items():  # type: ignore[call-arg]
        for method, op in item.items():
            roles = op.get("x-pdvault-roles")
            key = (method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
            served[key] = None if roles is None else frozenset(roles)
    documented = documented_operations()
    assert sorted(set(served) - set(documented)) == [], "served but not in docs/api.md"
    assert sorted(set(documented) - set(served)) == [], "in docs/api.md but not served"
    wrong = {k: (documented[k], v) for k, v in served.items() if documented[k] != v}
    assert wrong == {}, "docs/api.md's roles (left) differ from the served ones (right)"
