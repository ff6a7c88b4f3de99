"""ROS 2 XML launch files -> the list of nodes to run (no rclpy, no processes here).

Same tags and meaning as ros2/launch's XML frontend (launch + launch_ros), for this subset:

  <launch>
  <arg name default description> with <choice value/> children
  <let name value>
  <node pkg exec name namespace args output respawn respawn_delay respawn_max_retries
        sigterm_timeout sigkill_timeout on_exit>
        children <param from/> <param name value/> (nested <param name><param .../></param>),
                 <remap from to/>, <env name value/>
  <group scoped forwarding> with <keep name value/> children, <push-ros-namespace namespace/>
  <include file> with <arg name value/> children
  `if` / `unless` on every action (arg, let, node, group, include, push-ros-namespace).

Two passes, like ros2 launch: a file is first parsed whole (unknown tags, unknown attributes and
bad substitution syntax are errors even in branches whose condition is false), then executed
in order (conditions, launch configurations, namespaces, includes). Every error is a
LaunchError naming file and line.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import yaml
from lxml import etree

from .errors import LaunchError
from .packages import find_package_prefix, find_package_share
from .substitutions import (EvalContext, SubstitutionError, Template, describe, evaluate,
                            is_literal, parse_template, to_bool)

# Tags of ros2 launch (launch / launch_ros frontends) that this runner does not implement:
# named in the error so that it is not mistaken for a typo.
KNOWN_UNSUPPORTED_TAGS = {
    "executable", "timer", "log", "set_env", "set-env", "unset_env", "unset-env",
    "append_env", "set_parameter", "set-parameter", "set_parameters_from_file",
    "set_remap", "set-remap", "set_use_sim_time", "node_container", "load_composable_node",
    "composable_node", "lifecycle_node", "ros_timer", "for", "shutdown", "opaque_function",
    "set_ros_log_dir", "set_launch_configuration", "include_scoped",
}
KNOWN_UNSUPPORTED_NODE_ATTRIBUTES = {
    "cwd", "launch-prefix", "emulate_tty", "shell", "exec_name", "ros_args", "node-name",
    "output_format", "cached_output", "log_cmd",
}
CONDITION_ATTRIBUTES = ("if", "unless")
OUTPUT_MODES = ("screen", "log", "both")
_NODE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NS_TOKEN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---------------------------------------------------------------------------------------
# Result: what to run


@dataclass
class NodeSpec:
    """One node, every substitution performed."""
    package: str
    executable: str
    name: Optional[str]
    namespace: Optional[str]          # absolute, or None when neither node nor group sets one
    arguments: List[str]
    parameters: List[Tuple[str, str]]  # ("file", path) or ("value", "name:=value"), XML order
    remappings: List[Tuple[str, str]]
    env: Dict[str, str]
    output: str = "log"
    respawn: bool = False
    respawn_delay_s: float = 0.0
    respawn_max_retries: int = -1
    sigterm_timeout_s: float = 5.0
    sigkill_timeout_s: float = 5.0
    shutdown_on_exit: bool = False
    source: str = ""                   # "file:line" of the <node> tag
    label: str = ""                    # output prefix, unique within a launch

    @property
    def full_name(self) -> str:
        name = self.name or self.executable
        ns = self.namespace or "/"
        return ns.rstrip("/") + "/" + name

    def ros_arguments(self) -> List[str]:
        """`--ros-args ...` as launch_ros builds it: name, namespace, parameters in XML order,
        then remappings."""
        args: List[str] = []
        if self.name is not None:
            args += ["-r", f"__node:={self.name}"]
        if self.namespace is not None:
            args += ["-r", f"__ns:={self.namespace}"]
        for kind, value in self.parameters:
            args += ["--params-file", value] if kind == "file" else ["-p", value]
        for source, target in self.remappings:
            args += ["-r", f"{source}:={target}"]
        return ["--ros-args"] + args if args else []

    def as_dict(self) -> dict:
        return dict(label=self.label, full_name=self.full_name, package=self.package,
                    executable=self.executable, name=self.name, namespace=self.namespace,
                    arguments=self.arguments, ros_arguments=self.ros_arguments(),
                    parameters=[list(p) for p in self.parameters],
                    remappings=[list(r) for r in self.remappings], env=self.env,
                    output=self.output, respawn=self.respawn, respawn_delay_s=self.respawn_delay_s,
                    respawn_max_retries=self.respawn_max_retries,
                    sigterm_timeout_s=self.sigterm_timeout_s, sigkill_timeout_s=self.sigkill_timeout_s,
                    shutdown_on_exit=self.shutdown_on_exit, source=self.source)


@dataclass
class ArgumentInfo:
    name: str
    default: Optional[str]   # as written (unevaluated)
    description: str
    choices: Optional[List[str]]
    source: str


@dataclass
class LaunchDescription:
    file: str
    nodes: List[NodeSpec]
    arguments: List[ArgumentInfo]        # declared by the top-level file
    configurations: Dict[str, str]       # top-level launch configurations at the end
    unused_arguments: List[str]          # given on the command line, never declared nor read


# ---------------------------------------------------------------------------------------
# Pass 1: XML -> actions


@dataclass
class _Action:
    file: str
    line: int
    condition: Optional[Tuple[str, Template]]  # ("if" | "unless", template)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class _Arg(_Action):
    name: str = ""
    default: Optional[Template] = None
    default_text: Optional[str] = None
    description: str = ""
    choices: Optional[List[str]] = None


@dataclass
class _Let(_Action):
    name: Template = ()
    value: Template = ()


@dataclass
class _Param:
    line: int
    from_file: Optional[Template] = None
    name: Optional[Template] = None
    value: Optional[Template] = None
    children: List["_Param"] = field(default_factory=list)


@dataclass
class _Node(_Action):
    attrs: Dict[str, Template] = field(default_factory=dict)
    literal_attrs: Dict[str, object] = field(default_factory=dict)
    params: List[_Param] = field(default_factory=list)
    remaps: List[Tuple[int, Template, Template]] = field(default_factory=list)
    env: List[Tuple[int, Template, Template]] = field(default_factory=list)


@dataclass
class _Group(_Action):
    scoped: bool = True
    forwarding: bool = True
    keeps: List[Tuple[int, Template, Template]] = field(default_factory=list)
    children: List[_Action] = field(default_factory=list)


@dataclass
class _PushNamespace(_Action):
    namespace: Template = ()


@dataclass
class _Include(_Action):
    path: Template = ()
    args: List[Tuple[int, Template, Template]] = field(default_factory=list)


class _FileParser:
    """Parses one XML launch file into actions; errors carry this file's name and line."""

    def __init__(self, path: str):
        self.path = path
        self._text = ""

    def line_of(self, element) -> int:
        """Line where the element's start tag begins. libxml2 reports the line where the start
        tag ends, which for a tag spread over several lines is not where a reader looks."""
        end_line = element.sourceline
        if not self._text or end_line is None:
            return end_line
        end = 0
        for _ in range(end_line):
            found = self._text.find("\n", end)
            if found < 0:
                end = len(self._text)
                break
            end = found + 1
        start = self._text.rfind("<" + element.tag, 0, end)
        while start >= 0 and (start + len(element.tag) + 1 < len(self._text)) and \
                self._text[start + len(element.tag) + 1] not in " \t\r\n/>":
            start = self._text.rfind("<" + element.tag, 0, start)  # e.g. <nodee> when looking for <node>
        return end_line if start < 0 else self._text.count("\n", 0, start) + 1

    def error(self, message: str, element=None, line: Optional[int] = None) -> LaunchError:
        if line is None and element is not None:
            line = self.line_of(element)
        return LaunchError(message, self.path, line)

    def parse(self) -> List[_Action]:
        try:
            parser = etree.XMLParser(remove_comments=True, remove_pis=True, resolve_entities=False,
                                     no_network=True)
            with open(self.path, "rb") as handle:
                data = handle.read()
            self._text = data.decode("utf-8", errors="replace")
            tree = etree.fromstring(data, parser, base_url=self.path).getroottree()
        except OSError as error:
            raise LaunchError(f"cannot read launch file: {error}", self.path) from None
        except etree.XMLSyntaxError as error:
            line = error.lineno if error.lineno else None
            raise LaunchError(f"XML syntax error: {error.msg}", self.path, line) from None
        root = tree.getroot()
        if root.tag != "launch":
            raise self.error(f"root element must be <launch>, found <{root.tag}>", root)
        self.check_attributes(root, allowed=("version",))
        return self.actions(root)

    # -- helpers ------------------------------------------------------------------------
    def elements(self, parent):
        """Child elements; non-blank text between them is an error (never silently dropped)."""
        for text in [parent.text] + [child.tail for child in parent]:
            if text is not None and text.strip():
                raise self.error(f"unexpected text {text.strip()[:40]!r} inside <{parent.tag}>", parent)
        for child in parent:
            if not isinstance(child.tag, str):
                continue  # comments / processing instructions (already removed by the parser)
            yield child

    def check_attributes(self, element, allowed: Sequence[str], unsupported=frozenset()) -> None:
        for attribute in element.attrib:
            if attribute in allowed:
                continue
            if attribute in unsupported:
                raise self.error(f"attribute '{attribute}' of <{element.tag}> exists in ros2 launch but is "
                                 "not supported by skyroad launch", element)
            raise self.error(f"unknown attribute '{attribute}' on <{element.tag}> (allowed: "
                             f"{', '.join(allowed) or 'none'})", element)

    def required(self, element, attribute: str) -> str:
        value = element.get(attribute)
        if value is None:
            raise self.error(f"<{element.tag}> needs attribute '{attribute}'", element)
        return value

    def template(self, element, attribute: str, value: Optional[str] = None) -> Template:
        text = element.get(attribute) if value is None else value
        try:
            return parse_template(text)
        except SubstitutionError as error:
            raise self.error(f"<{element.tag} {attribute}=...>: {error}", element) from None

    def condition(self, element) -> Optional[Tuple[str, Template]]:
        present = [a for a in CONDITION_ATTRIBUTES if a in element.attrib]
        if len(present) > 1:
            raise self.error(f"<{element.tag}> has both 'if' and 'unless'", element)
        if not present:
            return None
        return present[0], self.template(element, present[0])

    def literal_bool(self, element, attribute: str) -> Optional[bool]:
        value = element.get(attribute)
        if value is None:
            return None
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.error(f"<{element.tag} {attribute}={value!r}>: expected true or false", element)

    def literal_float(self, element, attribute: str, minimum: float = 0.0) -> Optional[float]:
        value = element.get(attribute)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            raise self.error(f"<{element.tag} {attribute}={value!r}>: expected a number "
                             "(no substitutions here, as in ros2 launch)", element) from None
        if not number >= minimum or number == float("inf"):
            raise self.error(f"<{element.tag} {attribute}={value!r}>: expected a finite number >= {minimum}",
                             element)
        return number

    def literal_int(self, element, attribute: str) -> Optional[int]:
        value = element.get(attribute)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise self.error(f"<{element.tag} {attribute}={value!r}>: expected an integer", element) from None

    def name_value_children(self, element, tag: str) -> Tuple[int, Template, Template]:
        self.check_attributes(element, ("name", "value"))
        if len(list(self.elements(element))):
            raise self.error(f"<{tag}> takes no children", element)
        self.required(element, "name")
        self.required(element, "value")
        return self.line_of(element), self.template(element, "name"), self.template(element, "value")

    # -- actions ------------------------------------------------------------------------
    def actions(self, parent) -> List[_Action]:
        """Child actions of <launch> or <group> (a group's <keep> children are read by group())."""
        result = []
        for element in self.elements(parent):
            if parent.tag == "group" and element.tag == "keep":
                continue
            handler = {
                "arg": self.arg, "let": self.let, "node": self.node, "group": self.group,
                "push-ros-namespace": self.push_namespace, "push_ros_namespace": self.push_namespace,
                "include": self.include,
            }.get(element.tag)
            if handler is None:
                if element.tag in KNOWN_UNSUPPORTED_TAGS:
                    raise self.error(f"<{element.tag}> exists in ros2 launch but is not supported by "
                                     "skyroad launch", element)
                extra = ", keep" if parent.tag == "group" else ""
                raise self.error(f"unknown tag <{element.tag}> inside <{parent.tag}> (supported: arg, let, "
                                 f"node, group, push-ros-namespace, include{extra})", element)
            result.append(handler(element))
        return result

    def base(self, element) -> dict:
        return dict(file=self.path, line=self.line_of(element), condition=self.condition(element))

    def arg(self, element) -> _Arg:
        self.check_attributes(element, ("name", "default", "description") + CONDITION_ATTRIBUTES)
        name = self.required(element, "name")
        choices = None
        for child in self.elements(element):
            if child.tag != "choice":
                raise self.error(f"unknown tag <{child.tag}> inside <arg> (only <choice value=...>)", child)
            self.check_attributes(child, ("value",))
            choices = (choices or []) + [self.required(child, "value")]
        default_text = element.get("default")
        action = _Arg(**self.base(element), name=name, default_text=default_text,
                      default=None if default_text is None else self.template(element, "default"),
                      description=element.get("description", ""), choices=choices)
        if choices is not None and default_text is not None and is_literal(action.default) \
                and default_text not in choices:
            raise self.error(f"<arg name={name!r}>: default {default_text!r} is not one of {choices}", element)
        return action

    def let(self, element) -> _Let:
        self.check_attributes(element, ("name", "value") + CONDITION_ATTRIBUTES)
        if len(list(self.elements(element))):
            raise self.error("<let> takes no children", element)
        self.required(element, "name")
        self.required(element, "value")
        return _Let(**self.base(element), name=self.template(element, "name"),
                    value=self.template(element, "value"))

    NODE_ATTRIBUTES = ("pkg", "exec", "name", "namespace", "args", "output", "respawn", "respawn_delay",
                       "respawn_max_retries", "sigterm_timeout", "sigkill_timeout", "on_exit") + \
        CONDITION_ATTRIBUTES

    def node(self, element) -> _Node:
        self.check_attributes(element, self.NODE_ATTRIBUTES, KNOWN_UNSUPPORTED_NODE_ATTRIBUTES)
        self.required(element, "pkg")
        self.required(element, "exec")
        action = _Node(**self.base(element))
        for attribute in ("pkg", "exec", "name", "namespace", "args", "output", "respawn"):
            if attribute in element.attrib:
                action.attrs[attribute] = self.template(element, attribute)
        on_exit = element.get("on_exit")
        if on_exit is not None and on_exit != "shutdown":
            raise self.error(f"<node on_exit={on_exit!r}>: only 'shutdown' is supported (as in ros2 launch)",
                             element)
        action.literal_attrs = dict(
            respawn_delay=self.literal_float(element, "respawn_delay"),
            respawn_max_retries=self.literal_int(element, "respawn_max_retries"),
            sigterm_timeout=self.literal_float(element, "sigterm_timeout"),
            sigkill_timeout=self.literal_float(element, "sigkill_timeout"),
            on_exit=on_exit)
        for child in self.elements(element):
            if child.tag == "param":
                action.params.append(self.param(child, top_level=True))
            elif child.tag == "remap":
                self.check_attributes(child, ("from", "to"))
                self.required(child, "from")
                self.required(child, "to")
                action.remaps.append((self.line_of(child), self.template(child, "from"), self.template(child, "to")))
            elif child.tag == "env":
                action.env.append(self.name_value_children(child, "env"))
            else:
                raise self.error(f"unknown tag <{child.tag}> inside <node> (supported: param, remap, env)", child)
        return action

    def param(self, element, top_level: bool) -> _Param:
        allowed = ("from", "name", "value") if top_level else ("name", "value")
        self.check_attributes(element, allowed, unsupported={"type", "value-sep", "allow_substs"})
        children = [c for c in self.elements(element)]
        if element.get("from") is not None:
            if element.get("name") is not None or element.get("value") is not None or children:
                raise self.error("<param from=...> takes no 'name', 'value' or children", element)
            return _Param(self.line_of(element), from_file=self.template(element, "from"))
        if element.get("name") is None:
            raise self.error("<param> needs 'name' (with 'value' or nested <param>) or 'from'", element)
        param = _Param(self.line_of(element), name=self.template(element, "name"))
        if element.get("value") is not None:
            if children:
                raise self.error("<param> with 'value' takes no nested <param>", element)
            param.value = self.template(element, "value")
            return param
        if not children:
            raise self.error("<param name=...> needs 'value' or nested <param> children", element)
        for child in children:
            if child.tag != "param":
                raise self.error(f"unknown tag <{child.tag}> inside <param>", child)
            param.children.append(self.param(child, top_level=False))
        return param

    def group(self, element) -> _Group:
        self.check_attributes(element, ("scoped", "forwarding") + CONDITION_ATTRIBUTES)
        scoped = self.literal_bool(element, "scoped")
        forwarding = self.literal_bool(element, "forwarding")
        action = _Group(**self.base(element), scoped=True if scoped is None else scoped,
                        forwarding=True if forwarding is None else forwarding)
        for child in self.elements(element):
            if child.tag == "keep":
                action.keeps.append(self.name_value_children(child, "keep"))
        action.children = self.actions(element)
        return action

    def push_namespace(self, element) -> _PushNamespace:
        self.check_attributes(element, ("namespace",) + CONDITION_ATTRIBUTES)
        if len(list(self.elements(element))):
            raise self.error(f"<{element.tag}> takes no children", element)
        self.required(element, "namespace")
        return _PushNamespace(**self.base(element), namespace=self.template(element, "namespace"))

    def include(self, element) -> _Include:
        self.check_attributes(element, ("file",) + CONDITION_ATTRIBUTES)
        self.required(element, "file")
        action = _Include(**self.base(element), path=self.template(element, "file"))
        for child in self.elements(element):
            if child.tag != "arg":
                raise self.error(f"unknown tag <{child.tag}> inside <include> (only <arg name value>)", child)
            action.args.append(self.name_value_children(child, "arg"))
        return action


def parse_file(path: str) -> List[_Action]:
    return _FileParser(path).parse()


# ---------------------------------------------------------------------------------------
# Pass 2: execute actions -> nodes


def prefix_namespace(base: Optional[str], namespace: Optional[str]) -> Optional[str]:
    """launch_ros.utilities.prefix_namespace."""
    if base is None:
        return namespace
    if namespace is None:
        return base
    if namespace.startswith("/"):
        return namespace
    return base.rstrip("/") + "/" + namespace


def make_namespace_absolute(namespace: Optional[str]) -> Optional[str]:
    if namespace is None or namespace.startswith("/"):
        return namespace
    return "/" + namespace


def namespace_problem(namespace: str) -> Optional[str]:
    """rcl's namespace rules, so a bad namespace fails here with the file line, not in rcl."""
    if namespace == "/":
        return None
    if not namespace.startswith("/") or namespace.endswith("/"):
        return "must be absolute and must not end with '/'"
    for token in namespace[1:].split("/"):
        if not _NS_TOKEN_RE.match(token):
            return f"token {token!r} must be letters, digits and '_' and not start with a digit"
    return None


class _Executor:
    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ
        self.nodes: List[NodeSpec] = []
        self.used_configs: set = set()
        self.declared: set = set()

    def context(self, configs: Dict[str, str], file: str) -> EvalContext:
        ctx = EvalContext(configs=configs, current_file=file, find_package_share=find_package_share,
                          find_package_prefix=find_package_prefix, environ=self.environ)
        ctx.used_configs = self.used_configs
        return ctx

    def value(self, template: Template, configs, action: _Action, what: str, line: Optional[int] = None) -> str:
        try:
            return evaluate(template, self.context(configs, action.file))
        except SubstitutionError as error:
            raise LaunchError(f"{what}: {error}", action.file, line or action.line) from None

    def condition_holds(self, action: _Action, configs) -> bool:
        if action.condition is None:
            return True
        kind, template = action.condition
        text = self.value(template, configs, action, f"'{kind}' condition {describe(template)!r}")
        try:
            result = to_bool(text, f"'{kind}' condition {describe(template)!r}")
        except SubstitutionError as error:
            raise LaunchError(str(error), action.file, action.line) from None
        return result if kind == "if" else not result

    def run(self, actions: List[_Action], configs: Dict[str, str], include_stack: Tuple[str, ...]) -> None:
        for action in actions:
            if not self.condition_holds(action, configs):
                continue
            if isinstance(action, _Arg):
                self.declared.add(action.name)
                if action.name not in configs:
                    if action.default is None:
                        description = f" ({action.description})" if action.description else ""
                        raise LaunchError(f"required launch argument '{action.name}'{description} was not "
                                          f"provided: pass {action.name}:=VALUE", action.file, action.line)
                    configs[action.name] = self.value(action.default, configs, action,
                                                      f"<arg name={action.name!r} default=...>")
                if action.choices is not None and configs[action.name] not in action.choices:
                    raise LaunchError(f"argument '{action.name}' = {configs[action.name]!r} is not one of "
                                      f"{action.choices}", action.file, action.line)
            elif isinstance(action, _Let):
                name = self.value(action.name, configs, action, "<let name=...>")
                configs[name] = self.value(action.value, configs, action, f"<let name={name!r} value=...>")
            elif isinstance(action, _PushNamespace):
                namespace = self.value(action.namespace, configs, action, "<push-ros-namespace namespace=...>")
                pushed = make_namespace_absolute(prefix_namespace(configs.get("ros_namespace"), namespace))
                if pushed is not None:
                    problem = namespace_problem(pushed)
                    if problem:
                        raise LaunchError(f"namespace {pushed!r} is invalid: {problem}", action.file, action.line)
                    configs["ros_namespace"] = pushed
            elif isinstance(action, _Group):
                self.group(action, configs, include_stack)
            elif isinstance(action, _Include):
                self.include(action, configs, include_stack)
            elif isinstance(action, _Node):
                self.nodes.append(self.node(action, configs))
            else:  # pragma: no cover - parse_file only makes the classes above
                raise LaunchError(f"internal: unhandled action {type(action).__name__}", action.file, action.line)

    def group(self, action: _Group, configs: Dict[str, str], include_stack) -> None:
        keeps = {self.value(n, configs, action, "<keep name=...>", line): self.value(v, configs, action,
                                                                                     "<keep value=...>", line)
                 for line, n, v in action.keeps}
        if not action.scoped:
            configs.update(keeps)
            self.run(action.children, configs, include_stack)
            return
        inner = dict(configs) if action.forwarding else {}
        inner.update(keeps)
        self.run(action.children, inner, include_stack)

    def include(self, action: _Include, configs: Dict[str, str], include_stack) -> None:
        path = self.value(action.path, configs, action, "<include file=...>")
        if not path.endswith(".xml"):
            raise LaunchError(f"<include file={path!r}>: only XML launch files can be included by skyroad "
                              "launch (.py and .yaml launch files need ros2 launch)", action.file, action.line)
        if not os.path.isfile(path):
            raise LaunchError(f"<include file={path!r}>: file not found (relative paths are relative to the "
                              f"working directory {os.getcwd()}, as in ros2 launch; use $(dirname)/...)",
                              action.file, action.line)
        real = os.path.realpath(path)
        if real in include_stack:
            chain = " -> ".join(list(include_stack[include_stack.index(real):]) + [real])
            raise LaunchError(f"include cycle: {chain}", action.file, action.line)
        included = parse_file(path)
        # ros2 launch checks that every unconditional, default-less <arg> of the included file is
        # passed by this <include>'s own <arg> children (launch configurations alone do not count).
        given_names = {self.value(name_t, configs, action, "<include><arg name=...>", line)
                       for line, name_t, _ in action.args}
        for child in included:
            if isinstance(child, _Arg) and child.default is None and child.condition is None \
                    and child.name not in given_names:
                description = f" ({child.description})" if child.description else ""
                raise LaunchError(f"included file {path} needs argument '{child.name}'{description} "
                                  f"(declared at {child.where}); add <arg name=\"{child.name}\" value=...> "
                                  "to this <include>", action.file, action.line)
        # Set one after the other (a later <arg> may read an earlier one) and not scoped, as in
        # ros2 launch: they stay launch configurations of the current scope after the include
        # (wrap the include in a <group> to scope them).
        for line, name_t, value_t in action.args:
            name = self.value(name_t, configs, action, "<include><arg name=...>", line)
            configs[name] = self.value(value_t, configs, action, f"<include><arg name={name!r} value=...>", line)
        self.run(included, configs, include_stack + (real,))

    def node(self, action: _Node, configs: Dict[str, str]) -> NodeSpec:
        attrs = {key: self.value(t, configs, action, f"<node {key}=...>") for key, t in action.attrs.items()}
        name = attrs.get("name")
        if name is not None and not _NODE_NAME_RE.match(name):
            raise LaunchError(f"node name {name!r} is invalid: letters, digits and '_', not starting with a "
                              "digit, no '/'", action.file, action.line)
        namespace = make_namespace_absolute(prefix_namespace(configs.get("ros_namespace"), attrs.get("namespace")))
        if namespace is not None:
            problem = namespace_problem(namespace)
            if problem:
                raise LaunchError(f"node namespace {namespace!r} is invalid: {problem}", action.file, action.line)
        output = attrs.get("output", "log")
        if output not in OUTPUT_MODES:
            raise LaunchError(f"<node output={output!r}>: expected one of {', '.join(OUTPUT_MODES)}",
                              action.file, action.line)
        respawn = False
        if "respawn" in attrs:
            try:
                respawn = to_bool(attrs["respawn"], "<node respawn=...>")
            except SubstitutionError as error:
                raise LaunchError(str(error), action.file, action.line) from None
        parameters: List[Tuple[str, str]] = []
        for param in action.params:
            parameters += self.parameters(param, configs, action, prefix="")
        remaps = []
        for line, source, target in action.remaps:
            remaps.append((self.value(source, configs, action, "<remap from=...>", line),
                           self.value(target, configs, action, "<remap to=...>", line)))
        env = {}
        for line, name_t, value_t in action.env:
            env[self.value(name_t, configs, action, "<env name=...>", line)] = \
                self.value(value_t, configs, action, "<env value=...>", line)
        literal = action.literal_attrs
        arguments = attrs.get("args", "").split()
        return NodeSpec(
            package=attrs["pkg"], executable=attrs["exec"], name=name, namespace=namespace,
            arguments=arguments, parameters=parameters, remappings=remaps, env=env, output=output,
            respawn=respawn,
            respawn_delay_s=literal["respawn_delay"] if literal["respawn_delay"] is not None else 0.0,
            respawn_max_retries=literal["respawn_max_retries"] if literal["respawn_max_retries"] is not None else -1,
            sigterm_timeout_s=literal["sigterm_timeout"] if literal["sigterm_timeout"] is not None else 5.0,
            sigkill_timeout_s=literal["sigkill_timeout"] if literal["sigkill_timeout"] is not None else 5.0,
            shutdown_on_exit=literal["on_exit"] == "shutdown", source=action.where)

    def parameters(self, param: _Param, configs, action: _Node, prefix: str) -> List[Tuple[str, str]]:
        if param.from_file is not None:
            path = self.value(param.from_file, configs, action, "<param from=...>", param.line)
            check_parameter_file(path, action.file, param.line)
            return [("file", path)]
        name = prefix + self.value(param.name, configs, action, "<param name=...>", param.line)
        if param.value is not None:
            value = self.value(param.value, configs, action, f"<param name={name!r} value=...>", param.line)
            return [("value", f"{name}:={value}")]
        result = []
        for child in param.children:
            result += self.parameters(child, configs, action, prefix=name + ".")
        return result


def check_parameter_file(path: str, file: str, line: int) -> None:
    """A missing or malformed parameter file fails at launch with the <param> line, instead of
    (ros2 launch) a warning and a node running on defaults."""
    if not os.path.isfile(path):
        raise LaunchError(f"<param from={path!r}>: parameter file not found", file, line)
    try:
        with open(path, encoding="utf-8") as handle:
            content = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        raise LaunchError(f"<param from={path!r}>: cannot read YAML: {error}", file, line) from None
    if not isinstance(content, dict) or not content:
        raise LaunchError(f"<param from={path!r}>: expected a mapping 'node_name: ros__parameters: ...'",
                          file, line)
    for node_key, body in content.items():
        if not isinstance(body, dict) or not _has_ros_parameters(body):
            raise LaunchError(f"<param from={path!r}>: entry {node_key!r} has no 'ros__parameters' mapping",
                              file, line)


def _has_ros_parameters(body: dict) -> bool:
    if isinstance(body.get("ros__parameters"), dict):
        return True
    # namespaced layout: ns: node: ros__parameters
    return any(isinstance(v, dict) and _has_ros_parameters(v) for v in body.values())


def _assign_labels(nodes: List[NodeSpec]) -> None:
    """Output prefixes: the node name; the namespaced name where names repeat; then -N."""
    base = [n.name or n.executable for n in nodes]
    for node, label in zip(nodes, base):
        node.label = label if base.count(label) == 1 else node.full_name.lstrip("/")
    seen: Dict[str, int] = {}
    for node in nodes:
        count = seen.get(node.label, 0) + 1
        seen[node.label] = count
    repeated = {label for label, count in seen.items() if count > 1}
    counters: Dict[str, int] = {}
    for node in nodes:
        if node.label in repeated:
            counters[node.label] = counters.get(node.label, 0) + 1
            node.label = f"{node.label}-{counters[node.label]}"


def parse_cli_arguments(items: Sequence[str]) -> Dict[str, str]:
    """['name:=value', ...] -> dict; anything else is a LaunchError."""
    result = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise LaunchError(f"launch argument {item!r} is not of the form name:=value")
        result[name] = value
    return result


def load_launch_file(path: str, arguments: Optional[Mapping[str, str]] = None,
                     environ: Optional[Mapping[str, str]] = None) -> LaunchDescription:
    """Parse and execute `path` with command-line launch arguments -> nodes to run."""
    path = str(path)
    if not os.path.isfile(path):
        raise LaunchError(f"launch file not found: {path}")
    executor = _Executor(os.environ if environ is None else environ)
    actions = parse_file(path)
    configs: Dict[str, str] = dict(arguments or {})
    executor.run(actions, configs, (os.path.realpath(path),))
    declared = [ArgumentInfo(a.name, a.default_text, a.description, a.choices, a.where)
                for a in _top_level_args(actions)]
    unused = [name for name in (arguments or {}) if name not in executor.declared
              and name not in executor.used_configs]
    _assign_labels(executor.nodes)
    return LaunchDescription(file=path, nodes=executor.nodes, arguments=declared,
                             configurations=configs, unused_arguments=unused)


def _top_level_args(actions: List[_Action]) -> List[_Arg]:
    result = []
    for action in actions:
        if isinstance(action, _Arg):
            result.append(action)
        elif isinstance(action, _Group):
            result += _top_level_args(action.children)
    return result


def declared_arguments(path: str) -> List[ArgumentInfo]:
    """Arguments a file declares (for --show-args), without executing it."""
    return [ArgumentInfo(a.name, a.default_text, a.description, a.choices, a.where)
            for a in _top_level_args(parse_file(str(path)))]
