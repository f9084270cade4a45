"""Helpers shared by the TFX tests (imported as `tfx_testing`; pytest puts this folder
on sys.path)."""
import os

from pipelines import local_runner

# The CI preset (the smallest config that runs every stage of clar_tf.train.run), quiet.
TINY = dict(local_runner.TINY, verbose=0)


def run_executor(component, inputs, outputs, exec_properties):
    """Runs a component's executor the way the TFX launcher does, in-process."""
    executor = component.EXECUTOR_SPEC.executor_class()
    executor.Do(inputs, outputs, exec_properties)


def artifact(cls, uri):
    """An artifact of type `cls` at `uri` (created), as the launcher prepares outputs."""
    a = cls()
    a.uri = str(uri)
    os.makedirs(a.uri, exist_ok=True)
    return a
