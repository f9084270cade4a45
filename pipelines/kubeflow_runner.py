"""Compiles the clar_tf pipeline for Kubeflow Pipelines v2 (Vertex AI Pipelines): JSON.

    python -m pipelines.kubeflow_runner --image=REGISTRY/clar-tf:TAG \\
        --pipeline_root=/mnt/clar/pipeline_root --serving_dir=/mnt/clar/serving \\
        --dataset=sc10 --manual_dir=/mnt/clar/speech_commands --preset=none \\
        --train_config='{"epochs": 100, "batch_size": 256}' --output=clar_tf_pipeline.json

(from the repository root, in the TFX venv). Nothing runs here: the file is submitted to
a Kubeflow / Vertex endpoint. Every component runs in `--image`, which must have clar_tf
installed with its TFX extra and the repository's `components/` and `pipelines/` in its
working folder (so `components` imports) on Python 3.10. The components write
their artifacts through TFX's `fileio`, but soundfile reads manual_dir and h5py a run's
checkpoints, so the pipeline root, serving dir and manual_dir must be absolute paths the
containers mount (a volume, or Cloud Storage FUSE such as `/gcs/<bucket>/...`), not
`gs://` URLs: `KubeflowRunnerArgs` refuses any other.
"""
import dataclasses
import os

from clar_tf import cli
from pipelines import local_runner  # presets and the shared flags


@dataclasses.dataclass(frozen=True)
class KubeflowRunnerArgs(local_runner.LocalRunnerArgs):
    """`python -m pipelines.kubeflow_runner`'s flags: local_runner's plus these."""

    image: str = "clar-tf:latest"
    output: str = "clar_tf_pipeline.json"

    def __post_init__(self):
        super().__post_init__()
        for name in ("pipeline_root", "serving_dir", "manual_dir"):
            value = getattr(self, name)
            if value is not None and not os.path.isabs(value):
                raise ValueError(
                    f"`{name}` must be an absolute path that the containers mount "
                    f"(the components write their artifacts with local file operations, "
                    f"so not a gs:// URL). "
                    f"Received: {name}={value!r}")


HELP = {**local_runner.HELP,
        "image": "Container image every component runs in.",
        "output": "Pipeline JSON file to write (replaced if present)."}
CHOICES = local_runner.CHOICES


def compile_pipeline(pipeline, image, output):
    """Writes `pipeline` as Kubeflow v2 JSON to `output`; returns the JSON dict."""
    from tfx import v1 as tfx

    output = os.path.abspath(output)
    if os.path.exists(output):
        os.remove(output)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=image),
        output_dir=os.path.dirname(output), output_filename=os.path.basename(output))
    return runner.run(pipeline, write_out=True)


def main(args):
    """Compiles the pipeline that the `KubeflowRunnerArgs` `args` describe."""
    from pipelines import pipeline

    root = args.pipeline_root
    p = pipeline.create_pipeline(
        pipeline_name=args.pipeline_name, pipeline_root=root, dataset=args.dataset,
        manual_dir=args.manual_dir,
        train_config=local_runner.preset_config(args.preset, args.train_config),
        serving_dir=args.serving_dir or os.path.join(root, "serving"),
        accuracy_threshold=args.accuracy_threshold,
        beam_pipeline_args=local_runner.beam_args(args.beam_workers),
        enable_cache=args.enable_cache, clip_length=args.clip_length,
        skip_bad_files=args.skip_bad_files, allow_anomalies=args.allow_anomalies)
    compile_pipeline(p, args.image, args.output)
    print(f"wrote Kubeflow v2 pipeline {args.pipeline_name} ({len(p.components)} "
          f"components, image {args.image}) → {os.path.abspath(args.output)}")


if __name__ == "__main__":
    cli.main(KubeflowRunnerArgs, main, HELP, CHOICES)
