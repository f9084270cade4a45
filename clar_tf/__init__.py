"""clar_tf: Contrastive Learning of Auditory Representations (CLAR) in Keras 3 / TensorFlow.

Al-Tahan & Mohsenzadeh, "CLAR: Contrastive Learning of Auditory Representations",
AISTATS 2021. See README.md for usage.
"""
__version__ = "0.1.0"

import os as _os
import sys as _sys


def _is_command_line(argv):
    """Whether this process is one of clar_tf's commands: `python -m clar_tf.<tool>`
    (Python sets argv[0] to "-m" while it imports the package) or a `clar-*` script."""
    name = _os.path.basename(argv[0]) if argv else ""
    return name == "-m" or name.startswith("clar-")


def wants_tf_logs(argv):
    """Whether the command line asks for TensorFlow's own logs: absl's `--verbosity`
    (`-v`) flag given in any form."""
    return any(a in ("-v", "--verbosity") or a.startswith(("-v=", "--verbosity="))
               or (a.startswith("-v") and a[2:].lstrip("-").isdigit()) for a in argv[1:])


# A command is quiet unless asked (`-v 0`, `--verbosity=1`): TensorFlow's C++ logs (the
# CPU-feature, oneDNN and "failed call to cuInit" lines) are set before TensorFlow is
# imported, so here; `cli.main` quiets the Python-side logs and warnings. A library user
# (any other program importing clar_tf) keeps TensorFlow's defaults.
QUIET = _is_command_line(_sys.argv) and not wants_tf_logs(_sys.argv)
if QUIET:
    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Progress bars (TFDS's, through tqdm) only on a terminal: redirected to a file they are
# carriage returns and escape codes; the commands print plain progress lines instead.
if _is_command_line(_sys.argv) and not _sys.stderr.isatty():
    _os.environ.setdefault("TQDM_DISABLE", "1")
