"""What made a run: library versions and the code version (`model_dir/provenance.json`,
and the export metadata).

    {"python": "3.11.2", "tensorflow": "2.20.0", "keras": "3.13.2", "kapre": "0.4.1",
     "numpy": "2.1.3", "librosa": "0.11.0", "clar_tf": "0.1.0",
     "git_sha": "3c5f20b…" | null, "git_dirty": false | null, "platform": "Linux-…",
     "host": "…", "started_at": "2026-12-05T21:00:00+00:00"}

`git_sha` is the commit of the checkout clar_tf is imported from (an editable install,
`pip install -e .`), with `git_dirty` true when that checkout has uncommitted changes;
both are null for an installed package, whose `clar_tf` version then says it.
"""
import datetime
import importlib.metadata
import os
import platform
import socket
import subprocess

import clar_tf

LIBRARIES = ("tensorflow", "keras", "kapre", "numpy", "librosa")


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args):
    """`git args` run in the folder above the clar_tf package; None if that fails."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(clar_tf.__file__)))
    try:
        out = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                             timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip()


def code_version():
    """(git SHA, dirty) of the checkout clar_tf runs from, or (None, None) when it is not
    a git checkout's own package folder (an installed package)."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(clar_tf.__file__)))
    top = _git("rev-parse", "--show-toplevel")
    if top is None or os.path.realpath(top) != os.path.realpath(package_root):
        return None, None
    sha = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return sha, (None if status is None else bool(status))


def provenance():
    """This process's provenance, as the module docstring shows it."""
    sha, dirty = code_version()
    facts = {"python": platform.python_version()}
    facts.update({name: _version(name) for name in LIBRARIES})
    facts.update(clar_tf=_version("clar_tf"), git_sha=sha, git_dirty=dirty,
                 platform=platform.platform(), host=socket.gethostname(),
                 started_at=datetime.datetime.now(datetime.timezone.utc).isoformat(
                     timespec="seconds"))
    return facts
