# The image every component of the compiled Kubeflow pipeline runs in
# (`python -m pipelines.kubeflow_runner --image=REGISTRY/clar-tf:TAG`). Build and push
# from the repository root:
#
#   docker build -t REGISTRY/clar-tf:TAG .
#   docker push REGISTRY/clar-tf:TAG
#
# Base: TFX 1.16's own image (Python 3.10, TFX 1.16, TensorFlow 2.16), so the components
# run on the versions tools/tfx_ci.sh tests. The package is installed with the pins of
# that CI venv (requirements-tfx.txt) as constraints; the TFX folders components/ and
# pipelines/ sit in the working folder, where the compiled pipeline's executors
# (components.audio_example_gen.AudioExampleGen_Executor, ...) and the Trainer's run_fn
# (components.trainer_module.run_fn) are imported from. Not built in CI: no container
# daemon or base image is reachable there (docs/tfx.md).
FROM gcr.io/tfx-oss-public/tfx:1.16.0

# espeak-ng: only for the offline spoken digits; libsndfile1: soundfile's library.
RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng libsndfile1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /pipeline
COPY pyproject.toml README.md LICENSE requirements-tfx.txt ./
COPY clar_tf/ clar_tf/
RUN pip install --no-cache-dir -c requirements-tfx.txt ".[tfx]"
COPY components/ components/
COPY pipelines/ pipelines/
ENV PYTHONPATH=/pipeline
