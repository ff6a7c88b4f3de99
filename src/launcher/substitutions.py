"""Substitutions of ROS 2 XML launch files: `$(var x)`, `$(env NAME [default])`,
`$(find-pkg-share pkg)`, `$(find-pkg-prefix pkg)`, `$(dirname)`, `$(filename)`, `$(eval expr)`.

Syntax follows ros2/launch's frontend grammar (launch/frontend/grammar.lark):
- outside a substitution, text is literal; `\\X` is the character X (so `\\$` is a dollar);
  a `$` must start `$(`;
- a substitution is `$(name arg arg ...)`, arguments separated by ONE space; an argument is
  either unquoted (no spaces, quotes, parentheses or `$` unless escaped; may embed further
  substitutions) or a whole `'...'` / `"..."` string that may embed substitutions.

`$(eval ...)` is evaluated safely: the expression is parsed with `ast` and only literals,
boolean logic, comparisons, arithmetic, conditional expressions and `math` constants and
functions (what ros2 launch offers, it evaluates with the `math` namespace) are accepted.
Nothing is ever passed to Python's eval().
"""
from __future__ import annotations

import ast
import math
import operator
import os
from dataclasses import dataclass, field
from typing import Callable, List, Mapping, Optional, Union


class SubstitutionError(Exception):
    """A substitution cannot be parsed or evaluated; the caller adds file and line."""


@dataclass(frozen=True)
class Substitution:
    name: str
    args: tuple  # of Template

    def describe(self) -> str:
        return "$(" + " ".join([self.name] + [describe(a) for a in self.args]) + ")"


# A template: literal strings and substitutions, concatenated when evaluated.
Part = Union[str, Substitution]
Template = tuple  # Tuple[Part, ...]


def describe(template: Template) -> str:
    return "".join(p if isinstance(p, str) else p.describe() for p in template)


def is_literal(template: Template) -> bool:
    return all(isinstance(p, str) for p in template)


# name -> (min args, max args, usage)
SUPPORTED = {
    "var": (1, 1, "$(var NAME)"),
    "env": (1, 2, "$(env NAME [DEFAULT])"),
    "find-pkg-share": (1, 1, "$(find-pkg-share PACKAGE)"),
    "find-pkg-prefix": (1, 1, "$(find-pkg-prefix PACKAGE)"),
    "dirname": (0, 0, "$(dirname)"),
    "filename": (0, 0, "$(filename)"),
    "eval": (1, 1, "$(eval 'EXPRESSION')"),
}
# Exist in ros2 launch, not here: named in the error so the user knows it is not a typo.
KNOWN_UNSUPPORTED = ("anon", "command", "exec-in-pkg", "find-exec", "find-pkg", "not", "and",
                     "or", "equals", "if", "unless", "path-join", "parameter", "for-var",
                     "string-join", "file-content", "env-var", "launch-log-dir", "log-dir",
                     "bool", "concat", "relative-path", "var-or", "boolean-substitution")


class _TemplateParser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def error(self, message: str) -> SubstitutionError:
        return SubstitutionError(f"{message} at column {self.pos + 1} of {self.text!r}")

    def peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def template(self, quote: Optional[str]) -> Template:
        """Literal text with substitutions, up to `quote` (consumed by the caller) or the end."""
        parts: List[Part] = []
        literal: List[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if quote is not None and char == quote:
                break
            if char == "\\" and self.pos + 1 < len(self.text):
                literal.append(self.text[self.pos + 1])
                self.pos += 2
            elif char == "$":
                if self.peek(1) != "(":
                    raise self.error("'$' must start a substitution '$(...)' (write '\\$' for a dollar)")
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(self.substitution(inside_quote=quote))
            else:
                literal.append(char)
                self.pos += 1
        if quote is not None and self.pos >= len(self.text):
            raise self.error(f"unterminated {quote} string")
        if literal:
            parts.append("".join(literal))
        return tuple(parts)

    def substitution(self, inside_quote: Optional[str]) -> Substitution:
        start = self.pos
        self.pos += 2  # "$("
        name_start = self.pos
        if not self.peek().isalpha():
            raise self.error("a substitution name must follow '$('")
        while self.peek() and (self.peek().isalnum() or self.peek() in "_-"):
            self.pos += 1
        name = self.text[name_start:self.pos]
        args: List[Template] = []
        while True:
            char = self.peek()
            if char == ")":
                self.pos += 1
                break
            if char == " ":
                self.pos += 1
                args.append(self.argument(inside_quote))
                continue
            if not char:
                self.pos = start
                raise self.error(f"unterminated substitution '$({name}'")
            raise self.error(f"unexpected {char!r} in substitution '$({name}' (arguments are "
                             "separated by one space)")
        check_arity(name, len(args))
        return Substitution(name, tuple(args))

    def argument(self, inside_quote: Optional[str]) -> Template:
        char = self.peek()
        if inside_quote is None and char in ("'", '"'):
            self.pos += 1
            value = self.template(quote=char)
            self.pos += 1  # closing quote
            if self.peek() not in (" ", ")"):
                raise self.error("a quoted argument must be followed by ' ' or ')'")
            return value
        parts: List[Part] = []
        literal: List[str] = []
        forbidden = " ()'\"" if inside_quote is None else " ()" + inside_quote
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                literal.append(self.text[self.pos + 1])
                self.pos += 2
            elif char == "$":
                if self.peek(1) != "(":
                    raise self.error("'$' must start a substitution '$(...)'")
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(self.substitution(inside_quote))
            elif char in forbidden:
                break
            else:
                literal.append(char)
                self.pos += 1
        if literal:
            parts.append("".join(literal))
        if not parts:
            raise self.error("empty substitution argument (quote it: '')")
        return tuple(parts)


def check_arity(name: str, count: int) -> None:
    if name not in SUPPORTED:
        if name in KNOWN_UNSUPPORTED:
            raise SubstitutionError(f"substitution '$({name} ...)' exists in ros2 launch but is not "
                                    f"supported by skyroad launch (supported: {', '.join(SUPPORTED)})")
        raise SubstitutionError(f"unknown substitution '$({name} ...)' (supported: {', '.join(SUPPORTED)})")
    low, high, usage = SUPPORTED[name]
    if not low <= count <= high:
        hint = " (quote an expression that has spaces)" if name == "eval" else ""
        raise SubstitutionError(f"'$({name})' takes {low}..{high} argument(s), got {count}: "
                                f"usage {usage}{hint}")


def parse_template(text: str) -> Template:
    """Parse an attribute value into a template; raises SubstitutionError on bad syntax."""
    parser = _TemplateParser(text)
    return parser.template(quote=None)


@dataclass
class EvalContext:
    """What substitutions read: launch configurations, the current file, the environment and
    how to find packages."""
    configs: Mapping[str, str]
    current_file: str
    find_package_share: Callable[[str], str]
    find_package_prefix: Callable[[str], str]
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    # names read through $(var), so the CLI can tell which given arguments were never used
    used_configs: set = field(default_factory=set)


def evaluate(template: Template, ctx: EvalContext) -> str:
    return "".join(p if isinstance(p, str) else _perform(p, ctx) for p in template)


def _perform(sub: Substitution, ctx: EvalContext) -> str:
    args = [evaluate(a, ctx) for a in sub.args]
    if sub.name == "var":
        ctx.used_configs.add(args[0])
        if args[0] not in ctx.configs:
            known = ", ".join(sorted(k for k in ctx.configs if k != "ros_namespace")) or "none"
            raise SubstitutionError(f"$(var {args[0]}): launch configuration '{args[0]}' is not set "
                                    f"(declare it with <arg> or <let>; set now: {known})")
        return ctx.configs[args[0]]
    if sub.name == "env":
        if args[0] in ctx.environ:
            return ctx.environ[args[0]]
        if len(args) == 2:
            return args[1]
        raise SubstitutionError(f"$(env {args[0]}): environment variable '{args[0]}' is not set "
                                "and no default is given")
    if sub.name == "find-pkg-share":
        return ctx.find_package_share(args[0])
    if sub.name == "find-pkg-prefix":
        return ctx.find_package_prefix(args[0])
    if sub.name == "dirname":
        return os.path.dirname(os.path.abspath(ctx.current_file))
    if sub.name == "filename":
        return os.path.abspath(ctx.current_file)
    if sub.name == "eval":
        return str(safe_eval(args[0]))
    raise SubstitutionError(f"unknown substitution '{sub.name}'")  # parse_template rejects these


# ---------------------------------------------------------------------------------------
# Safe expression evaluation for $(eval)

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_MATH_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau, "inf": math.inf, "nan": math.nan}
_MATH_FUNCTIONS = {name: getattr(math, name) for name in (
    "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "degrees", "radians", "floor",
    "ceil", "fabs", "hypot", "exp", "log", "log10", "log2", "isclose", "copysign", "trunc")}
_OTHER_FUNCTIONS = {"abs": abs, "min": min, "max": max, "round": round}
# Guards against expressions that would hang or eat memory (10**10**9, 'x'*10**12).
_MAX_EXPONENT = 10000
_MAX_STRING = 100000


def safe_eval(expression: str):
    """Value of a $(eval) expression; SubstitutionError for anything outside the safe subset."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise SubstitutionError(f"$(eval): syntax error in {expression!r}: {error.msg}") from None
    try:
        return _eval_node(tree.body, expression)
    except SubstitutionError:
        raise
    except (ArithmeticError, TypeError, ValueError) as error:
        raise SubstitutionError(f"$(eval {expression!r}): {type(error).__name__}: {error}") from None


def _eval_node(node, expression: str):
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (bool, int, float, str)) or node.value is None:
            return node.value
        raise SubstitutionError(f"$(eval {expression!r}): literal {node.value!r} not allowed")
    if isinstance(node, ast.Name):
        if node.id in _MATH_CONSTANTS:
            return _MATH_CONSTANTS[node.id]
        raise SubstitutionError(f"$(eval {expression!r}): unknown name '{node.id}' (strings need "
                                "quotes: '$(var x)' == 'abc'; names allowed: "
                                f"{', '.join(_MATH_CONSTANTS)})")
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            result = True
            for value in node.values:
                result = _eval_node(value, expression)
                if not result:
                    return result
            return result
        result = False
        for value in node.values:
            result = _eval_node(value, expression)
            if result:
                return result
        return result
    if isinstance(node, ast.UnaryOp):
        operand = _eval_node(node.operand, expression)
        if isinstance(node.op, ast.Not):
            return not operand
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return +operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _eval_node(node.left, expression)
        right = _eval_node(node.right, expression)
        if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > _MAX_EXPONENT:
            raise SubstitutionError(f"$(eval {expression!r}): exponent {right} too large")
        if isinstance(node.op, ast.Mult):
            for text, count in ((left, right), (right, left)):
                if isinstance(text, str) and isinstance(count, int) and len(text) * count > _MAX_STRING:
                    raise SubstitutionError(f"$(eval {expression!r}): string too long")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left = _eval_node(node.left, expression)
        for op, comparator in zip(node.ops, node.comparators):
            if type(op) not in _COMPARE:
                raise SubstitutionError(f"$(eval {expression!r}): operator {type(op).__name__} not allowed")
            right = _eval_node(comparator, expression)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        if _eval_node(node.test, expression):
            return _eval_node(node.body, expression)
        return _eval_node(node.orelse, expression)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        function = _MATH_FUNCTIONS.get(node.func.id) or _OTHER_FUNCTIONS.get(node.func.id)
        if function is not None:
            return function(*[_eval_node(arg, expression) for arg in node.args])
    raise SubstitutionError(f"$(eval {expression!r}): {type(node).__name__} not allowed (only literals, "
                            "and/or/not, comparisons, arithmetic, 'a if c else b' and math functions)")


def to_bool(text: str, what: str) -> bool:
    """ros2 launch's condition rule: 'true'/'1' or 'false'/'0', case-insensitive."""
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise SubstitutionError(f"{what}: {text!r} is not a boolean (expected true, false, 1 or 0)")
