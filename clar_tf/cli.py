"""Every clar_tf command line: a frozen dataclass → absl flags → the frozen dataclass.

A tool declares its arguments as a frozen dataclass (one field per flag, every check in
`__post_init__`), a `{field: help}` dict and a `{field: allowed values}` dict, and ends in

    if __name__ == "__main__":
        cli.main(ToolArgs, main, HELP, CHOICES)

`define_flags` derives one flag per field (type and default from the field, an enum when
the field has choices, required when it has no default); `from_flags` builds the
dataclass from parsed flags, turning its `ValueError` into an error that names the flag;
`main` is absl's `app.run` around both (so `--flagfile` works, and `--help` lists the
tool's flags after a usage line that names its positional arguments; `--help`,
`--helpshort`, `--helpfull` and `--helpxml` exit with status 0, not absl's 1). Only
`main` touches the global `FLAGS`: `parse` reads a command line into the dataclass with
flags of its own (tests, and tools called in-process). Both read
`--flagfile=NAME` through `clar_tf.flagfiles` (the packaged presets when NAME is not a
file here; nested flag files found beside the file that names them).
"""
import dataclasses
import os
import sys
import textwrap
import typing

import clar_tf
from clar_tf import checks, flagfiles


def flag_fields(cls, positional=None):
    """The fields of `cls` that are flags: all but the `positional` one."""
    return [f for f in dataclasses.fields(cls) if f.name != positional]


def _tuple_parser(item):
    """An absl parser of `--name=a,b,c` into a tuple of `item` (a bad item names the flag)."""
    from absl import flags

    class TupleParser(flags.ListParser):
        def parse(self, argument):
            if isinstance(argument, tuple):
                return argument
            return tuple(item(x) for x in super().parse(argument))

    return TupleParser()


def define_flags(cls, help, choices=None, flag_values=None, required=None, positional=None,
                 module_name=None):
    """Defines an absl flag for every field of the frozen dataclass `cls`.

    Args:
      cls: the dataclass; field types bool, int, float, str, tuple[T, ...] (a
        comma-separated flag), each possibly Optional.
      help: {field name: help text}, one per flag.
      choices: {field name: allowed values}: those flags are enums.
      flag_values: the `absl.flags.FlagValues` to define them in (default: FLAGS).
      required: names of the flags that must be given (default: the fields without a
        default).
      positional: a field filled from the positional arguments, not a flag.
      module_name: the module `--help` lists the flags under (default: the caller).
    """
    from absl import flags

    fv = flags.FLAGS if flag_values is None else flag_values
    choices = choices or {}
    fields = flag_fields(cls, positional)
    if required is None:
        required = [f.name for f in fields if f.default is dataclasses.MISSING]
    where = {} if module_name is None else {"module_name": module_name}
    for field in fields:
        name, help_text = field.name, help[field.name]
        default = None if field.default is dataclasses.MISSING else field.default
        kind = checks.field_type(field)
        if name in choices:
            flags.DEFINE_enum(name, default, choices[name], help_text, flag_values=fv, **where)
        elif typing.get_origin(kind) is tuple:
            flags.DEFINE(_tuple_parser(typing.get_args(kind)[0]), name, default, help_text,
                         flag_values=fv, serializer=flags.CsvListSerializer(","), **where)
        else:
            define = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer,
                      float: flags.DEFINE_float, str: flags.DEFINE_string}[kind]
            define(name, default, help_text, flag_values=fv, **where)
    for name in required:
        flags.mark_flag_as_required(name, flag_values=fv)


def from_flags(cls, flag_values, positional=None, **values):
    """Builds the frozen `cls` from parsed flags (and `values` of the fields that are not
    flags); a non-finite float (`checks.check_finite_fields`) or a `ValueError` of its
    `__post_init__` exits with "Flag error: ..." naming the flag."""
    values.update({f.name: flag_values[f.name].value for f in flag_fields(cls, positional)})
    try:
        checks.check_finite_fields(cls, values)
        return cls(**values)
    except ValueError as e:
        raise SystemExit(f"Flag error: {e}") from None


def flagfile_text(cls, instance, help, choices=None):
    """A flag file (`--name=value` lines, absl's own serialisation) from which `parse`
    rebuilds `instance` of the frozen `cls`: every field but those that are None (a
    field may be None only where None is its default, which the file then keeps)."""
    from absl import flags

    fv = flags.FlagValues()
    define_flags(cls, help, choices, flag_values=fv, required=())
    lines = []
    for field in flag_fields(cls):
        value = getattr(instance, field.name)
        if value is None:
            if field.default is not None:
                raise ValueError(f"--{field.name} has no flag value for None")
            continue
        fv[field.name].value = value
        lines.append(fv[field.name].serialize())
    return "".join(f"{line}\n" for line in lines)


def flagfile_values(cls, path, help, choices=None):
    """The fields of the frozen `cls` that the flag file `path` sets, typed as the flags
    parse them (`flagfiles.read`: `path` is resolved as `--flagfile` is).

    Raises ValueError naming the file for an unknown flag or a bad value.
    """
    from absl import flags

    fv = flags.FlagValues()
    define_flags(cls, help, choices, flag_values=fv, required=())
    return flagfiles.read(path, fv, f"clar_tf {cls.__name__}")


def _positional_values(argv, positional):
    """{positional: argv[1:]} for a tool that takes arguments; else refuses any."""
    if positional:
        return {positional: tuple(argv[1:])}
    if len(argv) > 1:
        raise SystemExit(f"Unexpected arguments: {' '.join(argv[1:])}")
    return {}


def expand_flagfiles(argv):
    """`argv` with its flag files expanded (`flagfiles.expand_argv`); exits with
    "Flag error: ..." naming a missing or unreadable flag file."""
    try:
        return flagfiles.expand_argv(argv)
    except ValueError as e:
        raise SystemExit(f"Flag error: {e}") from None


def parse(cls, argv, help, choices=None, positional=None):
    """`argv` (program name first) as the frozen `cls`, with flags of its own (not FLAGS).

    A bad or missing flag exits with absl's error, which names it.
    """
    from absl import flags

    fv = flags.FlagValues()
    define_flags(cls, help, choices, flag_values=fv, positional=positional)
    try:
        rest = fv(expand_flagfiles(argv))
    except flags.Error as e:
        raise SystemExit(f"Flag error: {e}") from None
    return from_flags(cls, fv, positional, **_positional_values(rest, positional))


def usage(positional=None, help=None):
    """The first lines of a tool's `--help`: "USAGE: <program> [flags]", followed by
    `positional`'s metavariable and, on the next line, `help[positional]` if given.

    <program> is `python -m <module>` when `__main__` was run with -m, else the script's
    name (a console script: `clar-embed`).
    """
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    program = (f"python -m {spec.name}" if spec is not None and spec.name
               else os.path.basename(sys.argv[0]))
    if not positional:
        return f"USAGE: {program} [flags]"
    name = f"{positional.upper()}..."
    text = f"USAGE: {program} [flags] {name}"
    if help and help.get(positional):
        text += "\n" + textwrap.fill(f"{name}: {help[positional]}", 80, initial_indent="  ",
                                     subsequent_indent="    ")
    return text


def _help_flags(usage_text):
    """absl's help flags, `--help` and `--helpfull` printing `usage_text` first; each
    exits with status 0 (absl's exit 1 would read as a failed command in scripts)."""
    from absl import app, flags

    class Help(flags.BooleanFlag):
        def __init__(self, name, short_name, full):
            super().__init__(name, False, "show full help" if full else "show this help",
                             short_name=short_name, allow_hide_cpp=True)
            self.full = full

        def parse(self, argument):
            if self.parser.parse(argument):
                doc = sys.modules["__main__"].__doc__  # absl prints it too
                flag_help = flags.FLAGS.get_help() if self.full else (
                    flags.FLAGS.main_module_help())
                print(usage_text + (f"\n\n{doc.strip()}" if doc else ""))
                print(f"\nflags:\n{flag_help}\n")
                if not self.full:
                    print("Try --helpfull to get a list of all flags.")
                sys.exit(0)

    class HelpXML(app.HelpXMLFlag):
        def parse(self, argument):
            try:
                super().parse(argument)
            except SystemExit:
                sys.exit(0)

    return [Help("help", "?", full=False), Help("helpshort", None, full=False),
            Help("helpfull", None, full=True), HelpXML()]


def quiet_python_logs():
    """Hides the Python-side warnings of TensorFlow, Keras, TFDS and absl (deprecations,
    retracing notes, "Variant folder ... has no dataset_info.json"): what a command prints
    is its own output and its errors. `-v`/`--verbosity` keeps them (`clar_tf.QUIET`)."""
    import logging
    import warnings

    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    for name in ("tensorflow", "keras", "tensorflow_datasets", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings(
        "ignore", module=r"(tensorflow|keras|tensorflow_datasets|tf_keras|absl|h5py)(\.|$)")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def main(cls, fn, help, choices=None, positional=None):
    """A tool's command line: defines `cls`'s flags, then absl's `app.run` calls
    `fn(cls instance)`. `positional`: the field that receives the positional arguments;
    without one, stray arguments are an error; `help[positional]`, if there, describes
    them in `--help`. Call it under `if __name__ == "__main__"`."""
    from absl import app, flags

    define_flags(cls, help, choices, positional=positional, module_name=sys.argv[0])

    def run(argv):
        if clar_tf.QUIET:
            quiet_python_logs()
        fn(from_flags(cls, flags.FLAGS, positional, **_positional_values(argv, positional)))

    def parse_flags(argv):
        # `app.run` has defined absl's help flags by now: ours replace them.
        for flag in _help_flags(usage(positional, help)):
            for name in (flag.name, flag.short_name):
                if name and name in flags.FLAGS:
                    delattr(flags.FLAGS, name)
            flags.DEFINE_flag(flag, module_name=app.__name__)
        return app.parse_flags_with_usage(argv)

    app.run(run, argv=expand_flagfiles(sys.argv), flags_parser=parse_flags)
