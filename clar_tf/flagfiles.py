"""Flag files: where `--flagfile=NAME` is read from, and their expansion into flags.

The paper's presets ship inside the package (`clar_tf/configs/*.flags`, package data),
so `clar-train --flagfile=sc10.flags` works from any folder:

    --flagfile=PATH    PATH when that file exists (relative to the current folder,
                       or, inside a flag file, to the current folder or that file's own
                       folder), else the packaged preset of the same file name
                       (`sc10.flags`, `configs/sc10.flags` and `sc10` all name it).

`expand_argv` replaces every `--flagfile` argument by the flags of its file, nested flag
files included, before absl parses the command line: absl itself would look for a
nested flag file only relative to the current folder. The file format is absl's: one
flag a line, blank lines and lines starting with `#` or `//` ignored; a later flag
overrides an earlier one, so command-line flags after `--flagfile` win.
"""
import os

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
_SUFFIX = ".flags"


def presets():
    """Names of the packaged flag files, without `.flags`, sorted."""
    return sorted(name[:-len(_SUFFIX)] for name in os.listdir(CONFIG_DIR)
                  if name.endswith(_SUFFIX))


def resolve(name, including_dir=None):
    """The path of the flag file `--flagfile=name` means (see the module docstring).

    Raises ValueError naming the flag and the packaged presets when there is none.
    """
    candidates = [name]
    if including_dir and not os.path.isabs(name):
        candidates.append(os.path.join(including_dir, name))
    base = os.path.basename(name)
    candidates.append(os.path.join(CONFIG_DIR, base if base.endswith(_SUFFIX)
                                   else base + _SUFFIX))
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise ValueError(f"--flagfile={name}: no such file here, and no packaged preset of "
                     f"that name (packaged: {', '.join(presets())})")


def _expand_file(name, including_dir, stack):
    path = os.path.abspath(resolve(name, including_dir))
    if path in stack:
        raise ValueError(f"--flagfile={name}: {path} includes itself "
                         f"({' → '.join(stack + [path])})")
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"--flagfile={name}: cannot read {path} ({e})") from None
    flags = []
    for line in (line.strip() for line in lines):
        if not line or line.startswith(("#", "//")):
            continue
        nested = _flagfile_value(line)
        flags += (_expand_file(nested, os.path.dirname(path), stack + [path])
                  if nested is not None else [line])
    return flags


def _flagfile_value(arg):
    """NAME of a `--flagfile=NAME` / `-flagfile=NAME` argument, else None."""
    for prefix in ("--flagfile=", "-flagfile="):
        if arg.startswith(prefix):
            return arg[len(prefix):]
    return None


def expand_argv(argv):
    """`argv` (program name first) with every `--flagfile=NAME` (or `--flagfile NAME`)
    replaced by the flags its file holds, nested files expanded in place. Arguments after
    a bare `--` are left as they are. ValueError names a missing or unreadable file."""
    out, args = [argv[0]], list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg == "--":
            out += [arg] + args
            break
        if arg in ("--flagfile", "-flagfile"):
            if not args:
                raise ValueError("--flagfile needs a file name")
            arg = "--flagfile=" + args.pop(0)
        name = _flagfile_value(arg)
        out += _expand_file(name, None, []) if name is not None else [arg]
    return out


def read(path, flag_values, what="flag"):
    """Parses the flag file `path` (resolved as `--flagfile` is) with `flag_values`, an
    absl `FlagValues` holding the flags it may set; returns {name: parsed value} of the
    flags it sets. `what` names the flags in the error ("--x is not a {what} field").

    Raises ValueError naming the file for an unknown flag or a bad value.
    """
    from absl import flags

    try:
        flag_values(expand_argv(["flagfile", f"--flagfile={path}"]))
    except flags.UnrecognizedFlagError as e:
        raise ValueError(f"{path}: --{e.flagname} is not a {what} field") from None
    except flags.Error as e:
        raise ValueError(f"{path}: {e}") from None
    return {name: flag_values[name].value for name in flag_values
            if flag_values[name].present}
