"""Apply fixes with libcst: one combined transformer per file, formatting and comments preserved.

This module imports libcst, so it is imported only when a file has a fix to apply. Each
:class:`~loopwarden.lint._model.Fix` names the ``ast`` position of the node it rewrites; the
transformer reads libcst's positions once (one metadata pass) and rewrites every matching node in
a single traversal, whatever rules the fixes come from.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from loopwarden.lint._model import Fix


class _Transformer(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, fixes: Sequence[Fix]) -> None:
        super().__init__()
        self.by_position: dict[tuple[int, int], list[Fix]] = {}
        for fix in fixes:
            self.by_position.setdefault((fix.line, fix.col), []).append(fix)
        self.applied: list[Fix] = []
        self.imports: list[str] = []

    def _take(self, node: cst.CSTNode, kinds: tuple[str, ...]) -> Fix | None:
        try:
            position = self.get_metadata(PositionProvider, node).start
        except KeyError:
            return None
        candidates = self.by_position.get((position.line, position.column))
        if not candidates:
            return None
        for fix in candidates:
            if fix.kind in kinds:
                candidates.remove(fix)
                self.applied.append(fix)
                for statement in fix.imports:
                    if statement not in self.imports:
                        self.imports.append(statement)
                return fix
        return None

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        fix = self._take(
            original_node.func,
            ("call_to_await", "add_await", "replace_callee", "replace_call", "app_to_transport"),
        )
        if fix is None:
            return updated_node
        if fix.kind == "add_await":
            return cst.Await(expression=updated_node)
        if fix.kind == "call_to_await":
            return cst.Await(
                expression=updated_node.with_changes(func=cst.parse_expression(fix.args[0]))
            )
        if fix.kind == "replace_callee":
            return updated_node.with_changes(func=cst.parse_expression(fix.args[0]))
        if fix.kind == "replace_call":
            replacement = cst.parse_expression(fix.args[0])
            return replacement.with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar)
        # app_to_transport: app=X  ->  transport=<Transport>(app=X)
        args = []
        for arg in updated_node.args:
            if arg.keyword is not None and arg.keyword.value == "app":
                inner = cst.Call(
                    func=cst.parse_expression(fix.args[0]),
                    args=[arg.with_changes(comma=cst.MaybeSentinel.DEFAULT)],
                )
                arg = arg.with_changes(keyword=cst.Name("transport"), value=inner)
            args.append(arg)
        return updated_node.with_changes(args=args)

    def leave_Parameters(
        self, original_node: cst.Parameters, updated_node: cst.Parameters
    ) -> cst.Parameters:
        changed = False
        groups: dict[str, list[cst.Param]] = {}
        for field in ("posonly_params", "params", "kwonly_params"):
            kept: list[cst.Param] = []
            originals: Sequence[cst.Param] = getattr(original_node, field)
            updated: Sequence[cst.Param] = getattr(updated_node, field)
            for original, param in zip(originals, updated, strict=True):
                if self._take(original.name, ("remove_param",)) is not None:
                    changed = True
                    continue
                kept.append(param)
            groups[field] = kept
        if not changed:
            return updated_node
        # The last remaining parameter must not keep a comma that pointed at a removed one.
        ordered = [
            p for field in ("posonly_params", "params", "kwonly_params") for p in groups[field]
        ]
        if (
            ordered
            and updated_node.star_kwarg is None
            and not isinstance(updated_node.star_arg, cst.Param)
        ):
            last = ordered[-1]
            for field in ("kwonly_params", "params", "posonly_params"):
                if groups[field] and groups[field][-1] is last:
                    groups[field][-1] = last.with_changes(comma=cst.MaybeSentinel.DEFAULT)
                    break
        return updated_node.with_changes(**groups)

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.BaseStatement:
        if len(original_node.body) != 1:
            return updated_node
        fix = self._take(original_node.body[0], ("wrap_timeout",))
        if fix is None:
            return updated_node
        return cst.With(
            items=[cst.WithItem(item=cst.parse_expression(fix.args[0]))],
            body=cst.IndentedBlock(body=[updated_node.with_changes(leading_lines=())]),
            asynchronous=cst.Asynchronous(),
            leading_lines=updated_node.leading_lines,
        )

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if not self.imports:
            return updated_node
        present = {
            updated_node.code_for_node(statement).strip()
            for statement in updated_node.body
            if isinstance(statement, cst.SimpleStatementLine)
        }
        new = [cst.parse_statement(s + "\n") for s in self.imports if s not in present]
        body: list[cst.BaseStatement] = list(updated_node.body)
        for statement in new:
            body = insert_import(body, statement)
        return updated_node.with_changes(body=body)


_BLANK = cst.EmptyLine()


def _import_key(statement: cst.BaseStatement) -> tuple[int, int, str] | None:
    """Where isort (ruff's I001) puts an import statement: its section (``__future__``, the
    standard library, the rest), plain ``import`` before ``from``, then the module's name."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return None
    small = statement.body[0]
    if isinstance(small, cst.Import):
        kind, module = 0, cst.Module([]).code_for_node(small.names[0].name)
    elif isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative:
        kind, module = 1, cst.Module([]).code_for_node(small.module)
    else:
        return None
    top = module.partition(".")[0]
    section = 0 if top == "__future__" else 1 if top in sys.stdlib_module_names else 2
    return (section, kind, module.lower())


def insert_import(
    body: list[cst.BaseStatement], statement: cst.BaseStatement
) -> list[cst.BaseStatement]:
    """``statement`` (an import) put where isort would: in the module's leading import block,
    sorted into its section, with a blank line between sections."""
    end = _import_insertion_index(body)
    key = _import_key(statement)
    assert key is not None
    assert isinstance(statement, cst.SimpleStatementLine)
    start = end
    while start > 0 and _import_key(body[start - 1]) is not None:
        start -= 1
    index = next((i for i in range(start, end) if (_import_key(body[i]) or key) > key), end)
    before = _import_key(body[index - 1]) if index > start else None
    after = body[index] if index < end else None
    after_key = _import_key(after) if after is not None else None
    if after is not None and after_key is not None and after_key[0] == key[0]:
        # First of its section so far: it takes the blank lines above the old first.
        assert isinstance(after, cst.SimpleStatementLine)
        statement = statement.with_changes(leading_lines=after.leading_lines)
        body = [*body[:index], statement, after.with_changes(leading_lines=()), *body[index + 1 :]]
        return body
    if before is not None and before[0] == key[0]:
        return [*body[:index], statement, *body[index:]]
    # A section of its own: blank lines around it.
    if index > 0:
        statement = statement.with_changes(leading_lines=(_BLANK,))
    rest = body[index:]
    if rest and isinstance(rest[0], cst.SimpleStatementLine | cst.BaseCompoundStatement):
        first = rest[0]
        if not getattr(first, "leading_lines", ()):
            rest = [first.with_changes(leading_lines=(_BLANK,)), *rest[1:]]
    return [*body[:index], statement, *rest]


def _import_insertion_index(body: Sequence[cst.BaseStatement]) -> int:
    """After the docstring and the leading block of imports."""
    index = 0
    for position, statement in enumerate(body):
        if not isinstance(statement, cst.SimpleStatementLine):
            break
        small = statement.body[0]
        is_docstring = (
            position == 0
            and isinstance(small, cst.Expr)
            and isinstance(small.value, cst.SimpleString | cst.ConcatenatedString)
        )
        if is_docstring or isinstance(small, cst.Import | cst.ImportFrom):
            index = position + 1
        else:
            break
    return index


def apply_fixes(source: str, fixes: Sequence[Fix]) -> tuple[str, list[Fix]]:
    """Rewrite ``source`` with ``fixes``.

    Args:
        source: The file's text.
        fixes: Fixes to apply; those whose node is not found are left out.

    Returns:
        The new source and the fixes that were applied.
    """
    if not fixes:
        return source, []
    module = cst.parse_module(source)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    transformer = _Transformer(fixes)
    new_module = wrapper.visit(transformer)
    return new_module.code, transformer.applied
