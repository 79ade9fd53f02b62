"""``loopwarden lint --explain CODE``: a rule's page — what it finds, why it matters, the fix.

The pages are ``docs/reference/rules/CODE.md``; a wheel carries them as
``loopwarden/lint/rules/docs/`` (pyproject's ``force-include``), a checkout reads them from
``docs/``.
"""

from __future__ import annotations

from pathlib import Path

from loopwarden.lint._model import RuleInfo

# In a wheel: next to the rules. In a checkout (an editable install): the repository's docs.
_PAGES = (
    Path(__file__).parent / "rules" / "docs",
    Path(__file__).parents[3] / "docs" / "reference" / "rules",
)


def find_rule(name: str, rules: dict[str, RuleInfo]) -> RuleInfo | None:
    """The rule ``name`` names: its code in any case (``lw102``) or its name
    (``sleep-as-barrier``)."""
    wanted = name.strip()
    for info in rules.values():
        if wanted.upper() == info.code or wanted.lower() == info.name:
            return info
    return None


def page(info: RuleInfo) -> str:
    """The rule's page, or — where no page was installed — what the rule table says of it."""
    for folder in _PAGES:
        path = folder / f"{info.code}.md"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    fix = info.fix or "none"
    return (
        f"# {info.code} — {info.name}\n\n{info.summary}.\n\n**Fix:** {fix}.\n\n"
        "(This installation has no rule pages; see docs/reference/rules/"
        f"{info.code}.md in loopwarden's source.)\n"
    )
