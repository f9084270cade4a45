"""The flags a command line defines when it runs as a script (`clar_tf.cli.main`) and what
it prints when it exits (`--help`), shared by tests/cli_test.py and
tests_tfx/runners_test.py (both have tests/ on sys.path)."""
import contextlib
import dataclasses
import runpy
import sys

import pytest
from absl import app, flags

from clar_tf import cli


@contextlib.contextmanager
def _new_flags_removed():
    """Removes from `flags.FLAGS` again the flags defined inside the block."""
    before = set(flags.FLAGS)
    try:
        yield
    finally:
        for name in set(flags.FLAGS) - before:
            delattr(flags.FLAGS, name)


def script_flags(module, monkeypatch):
    """Runs `module` as `__main__` with absl's `app.run` caught (it must be called once),
    and removes the flags it defined again.

    Returns (the script's namespace, {flag: default} of the flags it defined, the names
    `--help` lists, {enum flag: allowed values as a list}).
    """
    __import__(module)  # its imports' flags (absl's own) are not the tool's
    started = []
    monkeypatch.setattr(app, "run", lambda main, *args, **kwargs: started.append(main))
    before = set(flags.FLAGS)
    with _new_flags_removed():
        namespace = runpy.run_module(module, run_name="__main__")
        defined = set(flags.FLAGS) - before
        listed = {f.name for f in flags.FLAGS.get_key_flags_for_module(sys.argv[0])}
        defaults = {name: flags.FLAGS[name].default for name in defined}
        enums = {name: list(flags.FLAGS[name].parser.enum_values) for name in defined
                 if isinstance(flags.FLAGS[name].parser, flags.EnumParser)}
    assert len(started) == 1, f"{module} started {len(started)} times"
    return namespace, defaults, listed, enums


def exit_and_output(main, argv, monkeypatch, capsys):
    """Calls `main()` (a command line: `cli.main` and absl's real `app.run`, minus its
    process name and logging set-up) with `sys.argv` = `argv` and removes the flags it
    defined again. Returns (its exit status, what it printed to stdout).

    `main` must exit (`--help`, a flag error): a command that runs is not for this.
    """
    from absl import command_name, logging
    monkeypatch.setattr(command_name, "make_process_name_useful", lambda: None)
    monkeypatch.setattr(logging, "use_absl_handler", lambda: None)
    monkeypatch.setattr(sys, "argv", list(argv))
    capsys.readouterr()
    with _new_flags_removed(), pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().out


def script_exit_and_output(module, args, monkeypatch, capsys):
    """`exit_and_output` of `python -m module *args`: `module` run as `__main__`, as -m
    runs it (its docstring is `__main__`'s)."""
    __import__(module)  # its imports' flags (absl's own) are not the tool's
    return exit_and_output(
        lambda: runpy.run_module(module, run_name="__main__", alter_sys=True),
        [module, *args], monkeypatch, capsys)


def field_defaults(cls, positional=None):
    """{flag: default} that `cli.define_flags` gives `cls`'s flags (None when required)."""
    return {f.name: None if f.default is dataclasses.MISSING else f.default
            for f in cli.flag_fields(cls, positional)}


def run_main(module, cls, argv):
    """`module.main` on the command line `argv` (program name first), parsed into `cls`
    as its `__main__` would (`module.HELP`, `module.CHOICES` when it has them)."""
    module.main(cli.parse(cls, argv, module.HELP, getattr(module, "CHOICES", None)))
