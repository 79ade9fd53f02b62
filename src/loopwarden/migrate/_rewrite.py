"""Apply a plan with libcst: formatting and comments are kept, only the planned nodes change.

This module imports libcst, so it is imported only when a file has something to change. The tree
is not visited whole: a full libcst visit costs several times its parse, and a suite moving off
pytest-asyncio changes most of its files. Instead the rewrite walks down the planned statement
paths, mapping :mod:`ast` statement indices to libcst statements (a libcst line ``a = 1; b = 2``
holds two ``ast`` statements), and rebuilds only the nodes on the way. A walk runs only
over the body of a function whose ``event_loop`` uses are replaced, and that walk too follows
fields and rebuilds only what changes (:func:`_replace_reads`).

A removed statement takes the comments directly above it along (they describe it); comments
further up, separated by a blank line, stay with the code that follows. A removed decorator's
trailing comment goes with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TypeVar

import libcst as cst

from loopwarden.lint._fix import _import_insertion_index, insert_import
from loopwarden.migrate._model import DecoratorEdit, Edit, FilePlan, StmtPath

_T = TypeVar("_T", cst.Arg, cst.BaseElement, cst.ImportAlias, cst.WithItem)
_N = TypeVar("_N", bound=cst.CSTNode)
_E = TypeVar("_E", bound=cst.BaseExpression)
_PASS = cst.SimpleStatementLine(body=[cst.Pass()])


def rewrite(source: str, plan: FilePlan) -> str:
    """Apply ``plan`` to ``source``.

    Args:
        source: The file's text, as analysed.
        plan: The finalized plan (:func:`loopwarden.migrate._analyze.finalize`).

    Returns:
        The new text.

    Raises:
        libcst.ParserSyntaxError: libcst cannot parse the file (``ast`` could).
    """
    module = cst.parse_module(source)
    editor = _Editor(plan)
    # A statement that becomes the module's first loses its blank lines above, unless an import
    # is to be added: it will stand above them.
    body, carried = editor.block(module.body, (), "body", strip=not plan.add_imports)
    if carried:
        module = module.with_changes(footer=[*carried, *module.footer])
    for statement in plan.add_imports:
        body = insert_import(body, cst.parse_statement(statement + "\n"))
    if plan.add_pytestmark is not None:
        body = _after_imports(body, cst.parse_statement(plan.add_pytestmark + "\n"))
    return module.with_changes(body=body).code


def _after_imports(
    body: list[cst.BaseStatement], statement: cst.BaseStatement
) -> list[cst.BaseStatement]:
    """``statement`` (``pytestmark = ...``) after the docstring and the leading imports, a blank
    line above it, and one or two below it (two before a ``def`` or ``class``)."""
    assert isinstance(statement, cst.SimpleStatementLine)
    index = _import_insertion_index(body)
    if index > 0:
        statement = statement.with_changes(leading_lines=[cst.EmptyLine()])
    rest = list(body[index:])
    if rest:
        first = rest[0]
        assert isinstance(first, cst.SimpleStatementLine | cst.BaseCompoundStatement)
        if not any(line.comment is None for line in first.leading_lines):
            blank = 2 if isinstance(first, cst.BaseCompoundStatement) else 1
            lines = [cst.EmptyLine() for _ in range(blank)]
            rest[0] = first.with_changes(leading_lines=[*lines, *first.leading_lines])
    return [*body[:index], statement, *rest]


def _kept_comments(lines: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    """The leading lines of a removed statement that stay: comments separated from it by a
    blank line (a section header), without the blank lines after the last of them."""
    end = len(lines)
    while end > 0 and lines[end - 1].comment is not None:
        end -= 1  # attached to the removed statement: they go with it
    kept = list(lines[:end])
    while kept and kept[-1].comment is None:
        kept.pop()
    return kept


def _without(items: Sequence[_T], drop: Callable[[int, _T], bool]) -> list[_T]:
    """``items`` without those ``drop`` selects, commas fixed: when the last item goes, the new
    last one takes its comma (none, or a trailing comma with the line break before ``)``)."""
    kept = [item for index, item in enumerate(items) if not drop(index, item)]
    if kept and items and kept[-1] is not items[-1]:
        kept[-1] = kept[-1].with_changes(comma=items[-1].comma)
    return kept


class _Editor:
    def __init__(self, plan: FilePlan) -> None:
        self.plan = plan
        self.edits = plan.edits
        self.prefixes = {path[:n] for path in plan.edits for n in range(1, len(path))}

    # -- blocks --------------------------------------------------------------------------------

    def block(
        self,
        statements: Sequence[cst.BaseStatement],
        prefix: StmtPath,
        field: str,
        strip: bool = True,
    ) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]]:
        """The statements of one block, edited; and comments left over from removed statements
        at its end (for the block's footer). With ``strip``, a statement that becomes the first
        of the block loses the blank lines above it."""
        out: list[cst.BaseStatement] = []
        carried: list[cst.EmptyLine] = []
        gap: list[cst.EmptyLine] = []  # the blank lines above removed statements
        dropped = False
        index = 0
        for statement in statements:
            if isinstance(statement, cst.SimpleStatementLine):
                smalls, index, changed = self.smalls(statement.body, prefix, field, index)
                if not smalls:
                    carried.extend(_kept_comments(statement.leading_lines))
                    gap = gap or _gap(statement.leading_lines, carried)
                    dropped = True
                    continue
                if changed:
                    statement = statement.with_changes(body=smalls)
            else:
                path = (*prefix, (field, index))
                index += 1
                edit = self.edits.get(path)
                if edit is not None and edit.remove:
                    assert isinstance(statement, cst.BaseCompoundStatement)
                    carried.extend(_kept_comments(statement.leading_lines))
                    gap = gap or _gap(statement.leading_lines, carried)
                    dropped = True
                    continue
                if edit is not None and edit.remove_items and isinstance(statement, cst.With):
                    lifted, footer = _remove_with_items(statement, edit.remove_items)
                    if lifted is None:
                        statement = _with_items(statement, edit.remove_items)
                    else:  # no item left: the block's statements take the with's place
                        first, *others = lifted
                        if carried or (dropped and strip and not out):
                            first = _lead(first, carried, strip and not out)
                        out += [first, *others]
                        carried, gap = footer, []
                        continue
                if path in self.prefixes:
                    statement = self.compound(statement, path)
                if edit is not None:
                    statement = self.definition(statement, edit)
            if carried or (dropped and strip and not out):
                statement = _lead(statement, carried, strip and not out)
                carried = []
            elif gap and out:
                assert isinstance(statement, cst.SimpleStatementLine | cst.BaseCompoundStatement)
                if not statement.leading_lines:  # (`import pytest` went: its section stays apart)
                    statement = statement.with_changes(leading_lines=gap)
            gap = []
            out.append(statement)
        return out, carried

    def smalls(
        self,
        smalls: Sequence[cst.BaseSmallStatement],
        prefix: StmtPath,
        field: str,
        index: int,
    ) -> tuple[list[cst.BaseSmallStatement], int, bool]:
        out: list[cst.BaseSmallStatement] = []
        changed = False
        for small in smalls:
            edit = self.edits.get((*prefix, (field, index)))
            index += 1
            if edit is None:
                out.append(small)
                continue
            changed = True
            new = self.small(small, edit)
            if new is not None:
                out.append(new)
        if changed and out:
            out[-1] = out[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
        return out, index, changed

    def suite(self, suite: cst.BaseSuite, path: StmtPath, field: str) -> cst.BaseSuite:
        if isinstance(suite, cst.IndentedBlock):
            body, carried = self.block(suite.body, path, field)
            return suite.with_changes(
                body=body or [_PASS], footer=[*carried, *suite.footer] if carried else suite.footer
            )
        assert isinstance(suite, cst.SimpleStatementSuite)
        smalls, _, changed = self.smalls(suite.body, path, field, 0)
        if not changed:
            return suite
        return suite.with_changes(body=smalls or [cst.Pass()])

    def compound(self, statement: cst.BaseStatement, path: StmtPath) -> cst.BaseStatement:
        if isinstance(statement, cst.ClassDef | cst.FunctionDef):
            return statement.with_changes(body=self.suite(statement.body, path, "body"))
        if isinstance(statement, cst.If):
            body = self.suite(statement.body, path, "body")
            orelse = statement.orelse
            if isinstance(orelse, cst.If):  # elif: the only statement of ast's orelse
                inner = (*path, ("orelse", 0))
                if inner in self.prefixes:
                    new = self.compound(orelse, inner)
                    assert isinstance(new, cst.If)
                    orelse = new
            elif isinstance(orelse, cst.Else):
                orelse = orelse.with_changes(body=self.suite(orelse.body, path, "orelse"))
            return statement.with_changes(body=body, orelse=orelse)
        return statement

    # -- statements ----------------------------------------------------------------------------

    def small(self, small: cst.BaseSmallStatement, edit: Edit) -> cst.BaseSmallStatement | None:
        if edit.remove:
            return None
        if isinstance(small, cst.Assign) and (edit.remove_elements or edit.append_element):
            value = small.value
            if edit.remove_elements:
                assert isinstance(value, cst.List | cst.Tuple)
                gone = set(edit.remove_elements)
                elements = _without(value.elements, lambda i, _: i in gone)
                value = value.with_changes(elements=elements)
            if edit.append_element:
                value = _append(value, cst.parse_expression(edit.append_element))
            return small.with_changes(value=value)
        if isinstance(small, cst.Import | cst.ImportFrom) and edit.remove_aliases:
            names = small.names
            assert not isinstance(names, cst.ImportStar)
            aliases = set(edit.remove_aliases)
            kept = _without(names, lambda i, _: i in aliases)
            return small.with_changes(names=kept) if kept else None
        return small

    def definition(self, statement: cst.BaseStatement, edit: Edit) -> cst.BaseStatement:
        if not isinstance(statement, cst.FunctionDef | cst.ClassDef):
            return statement
        if edit.decorators:
            statement = self.decorators(statement, edit.decorators)
        if edit.add_marks:
            marks = [cst.Decorator(decorator=cst.parse_expression(m)) for m in edit.add_marks]
            statement = statement.with_changes(decorators=[*marks, *statement.decorators])
        if isinstance(statement, cst.FunctionDef):
            if edit.remove_param:
                statement = statement.with_changes(
                    params=_remove_param(statement.params, "event_loop")
                )
            if edit.await_runs:
                statement = _await_runs(statement, edit.finalizer)
            if edit.replace_uses:
                body = _replace_reads(statement.body, "event_loop", self.running_loop)
                statement = statement.with_changes(body=body)
            if edit.make_async and statement.asynchronous is None:
                statement = statement.with_changes(asynchronous=cst.Asynchronous())
        return statement

    def decorators(
        self, node: cst.FunctionDef | cst.ClassDef, edits: list[DecoratorEdit]
    ) -> cst.FunctionDef | cst.ClassDef:
        by_index = {edit.index: edit for edit in edits}
        out: list[cst.Decorator] = []
        carried: list[cst.EmptyLine] = []
        for index, decorator in enumerate(node.decorators):
            if carried:
                decorator = decorator.with_changes(
                    leading_lines=[*carried, *decorator.leading_lines]
                )
                carried = []
            edit = by_index.get(index)
            if edit is None:
                out.append(decorator)
            elif edit.remove:
                carried = [line for line in decorator.leading_lines if line.comment is not None]
            else:
                expression = self.fixture(
                    decorator.decorator,
                    edit.drop_keyword,
                    edit.module or self.plan.pytest_name,
                    edit.add_keyword,
                )
                out.append(decorator.with_changes(decorator=expression))
        after = node.lines_after_decorators
        if carried:
            after = [*carried, *after]
        return node.with_changes(decorators=out, lines_after_decorators=after)

    def running_loop(self, name: cst.Name) -> cst.BaseExpression:
        """``<asyncio>.get_running_loop()``, in the parentheses ``name`` had."""
        loop = cst.Attribute(
            value=cst.Name(self.plan.asyncio_name), attr=cst.Name("get_running_loop")
        )
        return cst.Call(func=loop, lpar=name.lpar, rpar=name.rpar)

    def fixture(
        self,
        expression: cst.BaseExpression,
        drop: str | None,
        module: str,
        add: tuple[str, str] | None = None,
    ) -> cst.BaseExpression:
        """``@pytest_asyncio.fixture(...)`` -> ``@pytest.fixture(...)``, without ``drop=`` (or
        ``@pytest.fixture(...)`` -> ``@pytest_asyncio.fixture(...)``: ``module``), with ``add``
        written after ``scope=``."""
        func = cst.Attribute(value=cst.Name(module), attr=cst.Name("fixture"))
        if not isinstance(expression, cst.Call):
            return func
        args = list(expression.args)
        if drop is not None:
            args = _without(
                args, lambda _, arg: arg.keyword is not None and arg.keyword.value == drop
            )
            if not args:
                return func
        if add is not None:
            args = _add_keyword(args, "scope", *add, expression.whitespace_before_args)
        return expression.with_changes(func=func, args=args)


def _add_keyword(
    args: list[cst.Arg],
    after: str,
    name: str,
    value: str,
    before_args: cst.BaseParenthesizableWhitespace,
) -> list[cst.Arg]:
    """``args`` with ``name=value`` (a string, quoted as the argument before it is) right after
    the keyword argument ``after``, laid out as that one is: on a line of its own in a call
    written one argument a line."""
    index = next(
        i for i, arg in enumerate(args) if arg.keyword is not None and arg.keyword.value == after
    )
    anchor = args[index]
    quote = '"'
    if isinstance(anchor.value, cst.SimpleString):
        quote = anchor.value.quote
    new = cst.Arg(
        value=cst.SimpleString(f"{quote}{value}{quote}"),
        keyword=cst.Name(name),
        equal=anchor.equal,
        comma=anchor.comma,
        whitespace_after_arg=anchor.whitespace_after_arg,
    )
    if isinstance(anchor.comma, cst.MaybeSentinel):  # the last argument, without a comma
        space: cst.BaseParenthesizableWhitespace = cst.SimpleWhitespace(" ")
        one_a_line = all(
            isinstance(arg.comma, cst.Comma)
            and isinstance(arg.comma.whitespace_after, cst.ParenthesizedWhitespace)
            for arg in args[:index]
        )
        if one_a_line and isinstance(before_args, cst.ParenthesizedWhitespace):
            space = before_args  # the line break and indentation before the first argument
        anchor = anchor.with_changes(
            comma=cst.Comma(whitespace_after=space),
            whitespace_after_arg=cst.SimpleWhitespace(""),
        )
    return [*args[:index], anchor, new, *args[index + 1 :]]


def _gap(lines: Sequence[cst.EmptyLine], carried: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    """The blank lines above a removed statement, which the statement after it takes when it has
    none of its own (and no comment carried brings them)."""
    if carried:
        return []
    blank = []
    for line in lines:
        if line.comment is not None:
            break
        blank.append(line)
    return blank


def _lead(
    statement: cst.BaseStatement, carried: Sequence[cst.EmptyLine], first: bool
) -> cst.BaseStatement:
    """``statement`` with the comments ``carried`` from removed statements above it; ``first``
    in its block, without blank lines above it."""
    assert isinstance(statement, cst.SimpleStatementLine | cst.BaseCompoundStatement)
    lines = [*carried, *statement.leading_lines]
    if first:
        while lines and lines[0].comment is None:
            lines.pop(0)
    return statement.with_changes(leading_lines=lines)


def _with_items(statement: cst.With, gone: Sequence[int]) -> cst.With:
    """``statement`` without the items ``gone`` (some are left)."""
    drop = set(gone)
    return statement.with_changes(items=_without(statement.items, lambda i, _: i in drop))


def _remove_with_items(
    statement: cst.With, gone: Sequence[int]
) -> tuple[list[cst.BaseStatement] | None, list[cst.EmptyLine]]:
    """When no item is left: the statements of the block, in the ``with``'s place (its comments
    above the first, those closing the block for what follows); else ``None``."""
    if len(set(gone)) < len(statement.items):
        return None, []
    block = statement.body
    header = _trailing(block.header) if isinstance(block, cst.IndentedBlock) else []
    lines = [*statement.leading_lines, *header]
    if isinstance(block, cst.SimpleStatementSuite):
        line = cst.SimpleStatementLine(
            body=block.body, leading_lines=lines, trailing_whitespace=block.trailing_whitespace
        )
        return [line], []
    assert isinstance(block, cst.IndentedBlock)
    lifted = list(block.body)
    first = lifted[0]
    assert isinstance(first, cst.SimpleStatementLine | cst.BaseCompoundStatement)
    lifted[0] = first.with_changes(leading_lines=[*lines, *first.leading_lines])
    return lifted, _comments(block.footer)


def _append(value: cst.BaseExpression, element: cst.BaseExpression) -> cst.BaseExpression:
    """``value`` (what ``pytestmark`` is) with ``element`` added at the end: in its list or
    tuple, laid out as its elements are (one a line, the trailing comma kept); another value
    becomes a list of it and ``element``."""
    space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    if not isinstance(value, cst.List | cst.Tuple):
        return cst.List([cst.Element(value, comma=space), cst.Element(element)])
    elements = list(value.elements)
    if not elements:
        return value.with_changes(elements=[cst.Element(element)])
    if isinstance(value, cst.List):
        opening, closing = value.lbracket.whitespace_after, value.rbracket.whitespace_before
    elif value.lpar:
        opening, closing = value.lpar[0].whitespace_after, value.rpar[-1].whitespace_before
    else:  # `pytestmark = a, b`
        opening = closing = cst.SimpleWhitespace("")
    last = elements[-1]
    if isinstance(closing, cst.ParenthesizedWhitespace):  # one a line
        between = elements[-2].comma if len(elements) > 1 else cst.Comma(whitespace_after=opening)
        added = cst.Element(element, comma=last.comma)
    else:
        between = space
        added = cst.Element(element)
    elements[-1] = last.with_changes(comma=between)
    return value.with_changes(elements=[*elements, added])


_ParamElement = cst.Param | cst.ParamSlash | cst.ParamStar


def _remove_param(params: cst.Parameters, name: str) -> cst.Parameters:
    """``params`` without the parameter ``name``; commas fixed as :func:`_without` does, and a
    bare ``*`` dropped when no keyword-only parameter is left after it."""
    elements: list[tuple[str, _ParamElement]] = [("posonly", p) for p in params.posonly_params]
    if isinstance(params.posonly_ind, cst.ParamSlash):
        elements.append(("slash", params.posonly_ind))
    elements += [("params", p) for p in params.params]
    if isinstance(params.star_arg, cst.Param | cst.ParamStar):
        elements.append(("star", params.star_arg))
    elements += [("kwonly", p) for p in params.kwonly_params]
    if params.star_kwarg is not None:
        elements.append(("kwarg", params.star_kwarg))

    def named(element: _ParamElement) -> bool:
        return isinstance(element, cst.Param) and element.name.value == name

    kept = [(kind, e) for kind, e in elements if not (kind != "kwarg" and named(e))]
    if isinstance(params.star_arg, cst.ParamStar) and not any(k == "kwonly" for k, _ in kept):
        kept = [(kind, e) for kind, e in kept if kind != "star"]
    if kept and elements and kept[-1][1] is not elements[-1][1]:
        kind, last = kept[-1]
        kept[-1] = (kind, last.with_changes(comma=elements[-1][1].comma))

    def group(kind: str) -> list[cst.Param]:
        return [e for k, e in kept if k == kind and isinstance(e, cst.Param)]

    slash = next((e for k, e in kept if k == "slash"), cst.MaybeSentinel.DEFAULT)
    star = next((e for k, e in kept if k == "star"), cst.MaybeSentinel.DEFAULT)
    kwarg = next((e for k, e in kept if k == "kwarg"), None)
    assert not isinstance(slash, cst.Param | cst.ParamStar)
    assert not isinstance(star, cst.ParamSlash)
    assert kwarg is None or isinstance(kwarg, cst.Param)
    return params.with_changes(
        posonly_params=group("posonly"),
        posonly_ind=slash,
        params=group("params"),
        star_arg=star,
        kwonly_params=group("kwonly"),
        star_kwarg=kwarg,
    )


# Fields that never hold a read of a name: whitespace and punctuation (skipped for speed), an
# attribute's name and a keyword argument's name (skipped because they are not reads).
_NOT_READS = frozenset(
    {
        "whitespace_before", "whitespace_after", "whitespace_before_args",
        "whitespace_after_arg", "whitespace_before_colon", "whitespace_after_colon",
        "whitespace_before_params", "whitespace_after_def", "whitespace_after_await",
        "whitespace_before_from", "whitespace_after_from", "whitespace_after_in",
        "whitespace_before_in", "whitespace_after_for", "whitespace_before_test",
        "whitespace_after_test", "whitespace_before_else", "whitespace_after_else",
        "whitespace_before_if", "whitespace_after_if", "whitespace_before_indicator",
        "whitespace_after_indicator", "whitespace_after_star", "whitespace_after_param",
        "whitespace_before_value", "whitespace_after_lambda",
        "lpar", "rpar", "comma", "semicolon", "equal", "colon", "dot", "leading_lines",
        "lines_after_decorators", "trailing_whitespace", "header", "footer", "lbracket",
        "rbracket", "lbrace", "rbrace", "operator", "asynchronous", "newline", "indent",
    }
)  # fmt: skip
_FIELDS: dict[type[cst.CSTNode], tuple[str, ...]] = {}


def _fields(kind: type[cst.CSTNode]) -> tuple[str, ...]:
    names = _FIELDS.get(kind)
    if names is None:
        skip = set(_NOT_READS)
        if kind is cst.Attribute:
            skip.add("attr")
        elif kind is cst.Arg:
            skip.add("keyword")
        names = _FIELDS[kind] = tuple(
            f.name for f in dataclasses.fields(kind) if f.name not in skip
        )
    return names


def _replace_reads(node: _N, name: str, make: Callable[[cst.Name], cst.BaseExpression]) -> _N:
    """``node`` with every read of ``name`` replaced by ``make(the name)``.

    A libcst transformer rebuilds every node it visits (several times a parse's cost over a
    suite); this walk follows the dataclass fields and rebuilds only the nodes on the way to a
    replaced name. The analysis made sure the name is never bound again in ``node`` and never
    read where no loop may be running.
    """
    changes: dict[str, object] = {}
    for field_name in _fields(type(node)):
        value = getattr(node, field_name)
        if isinstance(value, cst.Name):
            if value.value == name:
                changes[field_name] = make(value)
        elif isinstance(value, cst.CSTNode):
            new = _replace_reads(value, name, make)
            if new is not value:
                changes[field_name] = new
        elif isinstance(value, tuple | list) and value and isinstance(value[0], cst.CSTNode):
            items = [
                make(item)
                if isinstance(item, cst.Name) and item.value == name
                else _replace_reads(item, name, make)
                for item in value
            ]
            if any(new is not old for new, old in zip(items, value, strict=True)):
                changes[field_name] = items
    return node.with_changes(**changes) if changes else node


# What `await x` takes without parentheses: a primary (a name, an attribute, a call, a
# subscript, a literal or a display).
_PRIMARY = (
    cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float, cst.Imaginary,
    cst.SimpleString, cst.FormattedString, cst.List, cst.Tuple, cst.Dict, cst.Set,
    cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp, cst.Ellipsis,
)  # fmt: skip


class _AwaitRuns(cst.CSTTransformer):
    """``event_loop.run_until_complete(x)`` -> ``await x``, in parentheses where it stands in a
    larger expression (``(await x).attr``), without where it is a whole statement, value or
    argument."""

    def __init__(self) -> None:
        self.made: dict[int, cst.Await] = {}

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        if not (
            isinstance(func, cst.Attribute)
            and func.attr.value == "run_until_complete"
            and isinstance(func.value, cst.Name)
            and func.value.value == "event_loop"
            and len(updated.args) == 1
            and updated.args[0].keyword is None
            and not updated.args[0].star
        ):
            return updated
        expression = updated.args[0].value
        if not isinstance(expression, _PRIMARY) and not expression.lpar:
            # `await` binds tighter than `or`, `if`, operators: `await (a or b)`.
            expression = expression.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        awaited = cst.Await(
            expression=expression,
            lpar=updated.lpar or [cst.LeftParen()],
            rpar=updated.rpar or [cst.RightParen()],
        )
        if not updated.lpar:
            self.made[id(awaited)] = awaited
        return awaited

    def _bare(self, value: _E) -> _E:
        if id(value) in self.made and isinstance(value, cst.Await):
            return value.with_changes(lpar=[], rpar=[])
        return value

    def leave_Expr(self, original: cst.Expr, updated: cst.Expr) -> cst.Expr:
        return updated.with_changes(value=self._bare(updated.value))

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        return updated.with_changes(value=self._bare(updated.value))

    def leave_AnnAssign(self, original: cst.AnnAssign, updated: cst.AnnAssign) -> cst.AnnAssign:
        value = updated.value
        return updated.with_changes(value=None if value is None else self._bare(value))

    def leave_Return(self, original: cst.Return, updated: cst.Return) -> cst.Return:
        value = updated.value
        return updated.with_changes(value=None if value is None else self._bare(value))

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        return updated.with_changes(value=self._bare(updated.value))


def _await_runs(node: cst.FunctionDef, finalizer: str | None) -> cst.FunctionDef:
    """A sync test or fixture's body as an async one's: each ``event_loop.run_until_complete(x)``
    awaited; with ``finalizer``, its ``def`` and the ``request.addfinalizer`` call gone, the last
    ``return v`` a ``yield v`` followed by the finalizer's body, and a return annotation ``T``
    ``AsyncIterator[T]``."""
    new = node.visit(_AwaitRuns())
    assert isinstance(new, cst.FunctionDef)
    if finalizer is None:
        return new
    body = new.body
    assert isinstance(body, cst.IndentedBlock)
    statements = list(body.body)
    nested = next(
        s for s in statements if isinstance(s, cst.FunctionDef) and s.name.value == finalizer
    )
    assert isinstance(nested.body, cst.IndentedBlock)
    last, register = statements[-1], statements[-2]
    assert isinstance(last, cst.SimpleStatementLine)
    assert isinstance(register, cst.SimpleStatementLine)
    assert len(register.body) == 1
    assert len(last.body) == 1
    returned = last.body[-1]
    assert isinstance(returned, cst.Return)
    value = returned.value
    yielded = last.with_changes(
        body=[*last.body[:-1], cst.Expr(cst.Yield(value=value))],
        leading_lines=[
            *_comments(register.leading_lines),
            *_trailing(register.trailing_whitespace),
            *last.leading_lines,
        ],
    )
    moved = list(nested.body.body)
    first = moved[0]
    assert isinstance(first, cst.SimpleStatementLine | cst.BaseCompoundStatement)
    moved[0] = first.with_changes(
        leading_lines=[
            *_comments(nested.leading_lines),
            *_trailing(nested.body.header),
            *first.leading_lines,
        ]
    )
    kept = [s for s in statements[:-2] if s is not nested]
    # Comments after the finalizer's last statement (its block's footer) stay after it.
    footer = [*_comments(nested.body.footer), *body.footer]
    new = new.with_changes(body=body.with_changes(body=[*kept, yielded, *moved], footer=footer))
    if new.returns is not None:
        annotation = new.returns.annotation
        wrapped = cst.Subscript(
            value=cst.Name("AsyncIterator"),
            slice=[cst.SubscriptElement(slice=cst.Index(value=annotation))],
        )
        new = new.with_changes(returns=new.returns.with_changes(annotation=wrapped))
    return new


def _comments(lines: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    return [line for line in lines if line.comment is not None]


def _trailing(whitespace: cst.TrailingWhitespace) -> list[cst.EmptyLine]:
    """A line's trailing comment (``def close():  # why``) as a comment line of its own."""
    if whitespace.comment is None:
        return []
    return [cst.EmptyLine(comment=whitespace.comment)]
