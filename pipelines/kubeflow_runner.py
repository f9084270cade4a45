"""Compiles the clar_tf pipeline for Kubeflow Pipelines v2 (Vertex AI Pipelines): JSON.

    python -m pipelines.kubeflow_runner --image=REGISTRY/clar-tf:TAG \\
        --pipeline_root=/mnt/clar/pipeline_root --serving_dir=/mnt/clar/serving \\
        --dataset=sc10 --manual_dir=/mnt/clar/speech_commands --preset=none \\
        --train_config='{"epochs": 100, "batch_size": 256}' --output=clar_tf_pipeline.json

(from the repository root, in the TFX venv). Nothing runs here: the file is submitted to
a Kubeflow / Vertex endpoint. Every component runs in `--image`, which must hold this
repository as its working directory (so `components.*` and `clar_tf` import) and the
packages of requirements-tfx.txt. clar_tf writes with Python's `open`, so the pipeline
root, serving dir and manual_dir must be paths the containers mount (a volume, or
Cloud Storage FUSE such as `/gcs/<bucket>/...`), not `gs://` URLs.
"""
import os
import sys

from absl import app, flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from pipelines import local_runner  # noqa: E402  (presets; defines its flags too)

flags.DEFINE_string("image", "clar-tf:latest", "Container image every component runs in.")
flags.DEFINE_string("output", "clar_tf_pipeline.json", "Pipeline JSON file to write "
                    "(replaced if present).")


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


def main(argv):
    if len(argv) > 1:
        raise SystemExit(f"Unexpected arguments: {' '.join(argv[1:])}")
    from pipelines import pipeline

    f = flags.FLAGS
    root = f.pipeline_root
    for name in ("pipeline_root", "serving_dir", "manual_dir"):
        value = f[name].value
        if value is not None and not os.path.isabs(value):
            raise SystemExit(f"--{name} must be an absolute path that the containers mount "
                             f"(clar_tf writes with open(), so not a gs:// URL). Received: "
                             f"--{name}={value}")
    p = pipeline.create_pipeline(
        pipeline_name=f.pipeline_name, pipeline_root=root, dataset=f.dataset,
        manual_dir=f.manual_dir,
        train_config=local_runner.preset_config(f.preset, f.train_config),
        serving_dir=f.serving_dir or os.path.join(root, "serving"),
        accuracy_threshold=f.accuracy_threshold, enable_cache=f.enable_cache)
    compile_pipeline(p, f.image, f.output)
    print(f"wrote Kubeflow v2 pipeline {f.pipeline_name} ({len(p.components)} components, "
          f"image {f.image}) → {os.path.abspath(f.output)}")


if __name__ == "__main__":
    app.run(main)
