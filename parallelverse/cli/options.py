"""Click types for strict options: one per option kind, each wrapping a rule of parallelverse.inputs.

    @click.option("--temperature", type=Checked(TEMPERATURE))       # finite, in range, or one-line error
    @click.option("--html", type=OutputPath("--html", kind="file"))  # checked before the work starts

Click's own usage errors print a usage block; these raise OptionError, whose message
is the one line the console helper prints (see cli.console.Group).
"""

from __future__ import annotations

import tomllib

import click

from parallelverse.inputs import Bound

CLUSTER_HELP = ("Run on dask.distributed: local[:N] (N worker processes here), tcp://HOST:PORT (a running "
                "`dask scheduler`) or SCHEDULER.json; results are identical to a run without it.")


class OptionError(click.BadParameter):
    """A bad option value whose message already names the option, the value and the fix."""

    def format_message(self) -> str:
        return self.message


class Checked(click.ParamType):
    """A number checked against a Bound: not a number, NaN, +-inf and out-of-range values are refused."""

    def __init__(self, bound: Bound):
        self.bound = bound
        self.name = "integer" if bound.kind is int else "float"

    def convert(self, value, param, ctx):
        from parallelverse.errors import InputError

        try:
            return self.bound.check(value) if isinstance(value, (int, float)) else self.bound.parse(value)
        except InputError as exc:
            raise OptionError(str(exc), ctx=ctx, param=param) from None


class CheckedList(click.ParamType):
    """Comma-separated numbers, each checked against a Bound, as a tuple (e.g. --temperature 0.8,1.0,1.2)."""

    def __init__(self, bound: Bound):
        self.bound = bound
        self.name = "list"

    def convert(self, value, param, ctx):
        from parallelverse.errors import InputError

        if isinstance(value, tuple):
            return value
        items = [t.strip() for t in str(value).split(",")]
        if not any(items) or not all(items):
            raise OptionError(
                f"{self.bound.option} {value!r} should be numbers separated by commas, e.g. "
                f"{self.bound.option} {self.bound.example}", ctx=ctx, param=param)
        try:
            return tuple(self.bound.parse(t) for t in items)
        except InputError as exc:
            raise OptionError(str(exc), ctx=ctx, param=param) from None


class OutputPath(click.ParamType):
    """A path the command will write; unusable ones are refused at parse time, before any work.

    kind "dir" for stores and checkpoints, "file" for reports (see inputs.check_output_path)."""

    name = "path"

    def __init__(self, option: str, kind: str):
        self.option, self.kind = option, kind

    def convert(self, value, param, ctx):
        from parallelverse.errors import InputError
        from parallelverse.inputs import check_output_path

        try:
            return str(check_output_path(value, self.option, self.kind))
        except InputError as exc:
            raise OptionError(str(exc), ctx=ctx, param=param) from None


def parse_sets(items: tuple[str, ...]) -> dict:
    from parallelverse.errors import GeneratorError

    params: dict = {}
    for item in items:
        key, eq, raw = item.partition("=")
        gen, dot, name = key.strip().partition(".")
        if not eq or not dot or not gen or not name:
            raise GeneratorError(f"--set {item!r} should look like GENERATOR.PARAM=VALUE, e.g. --set garch.dist=skewt")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()  # bare words are strings
        if name in params.get(gen, {}) and params[gen][name] != value:  # which one was meant is not ours to guess
            raise GeneratorError(f"--set {gen}.{name} is given twice ({params[gen][name]!r} and {value!r}); keep one")
        params.setdefault(gen, {})[name] = value
    return params


def scenario_params_for(fields: dict, generators_from_command_line: bool) -> dict:
    """A scenario's generator tables, less those of generators that --generators on the command line left out:
    the command line overrides the file, so a [garch] table does not block `--generators bootstrap`. Parameters
    given with --set are merged after this and still must name a chosen generator."""
    params = fields.get("generator_params", {})
    if not generators_from_command_line or "generators" not in fields:
        return params
    return {g: p for g, p in params.items() if g in set(fields["generators"])}


def merge_sets(params: dict, sets: tuple[str, ...]) -> dict:
    """Generator parameters (e.g. from a scenario file) updated by --set options, which win."""
    merged = {k: dict(v) for k, v in params.items()}
    for gen, values in parse_sets(sets).items():
        merged.setdefault(gen, {}).update(values)
    return merged
