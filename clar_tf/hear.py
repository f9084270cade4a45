"""The HEAR 2021 API (Turian et al. 2022) over a trained or exported CLAR model.

    import clar_tf.hear as hear
    model = hear.load_model("runs/sc10")            # or an export dir, or $CLAR_TF_MODEL
    scene = hear.get_scene_embeddings(audio, model)                   # [n, D]
    frames, ms = hear.get_timestamp_embeddings(audio, model)          # [n, T, D], [n, T]

Check it with the official validator: `bash tools/hear_validate.sh MODEL_PATH`.

`audio` is float32 [n_sounds, samples] in [-1, 1] at 16 kHz, any length of at least one
sample; NaN or inf samples are refused (ValueError), as in `clar_tf.embed`.

Scene embeddings are `clar_tf.embed.embed`'s clip embeddings: the mean of the encoder's
embeddings of clip-length windows at a hop of half a clip (the last one zero-padded on
the right), so a sound of at most one clip gets exactly the encoder's embedding of it,
padded as in training.

Timestamp embeddings: CLAR's encoder summarises a whole clip, so frame t (timestamp
t · 50 ms, t = 0 .. samples // 800) is the embedding of the clip-length window centred on
it, zeros standing in for audio before the start and after the end. The windows overlap
heavily (20 per second of audio, each a full clip), so their cost is 20 encoder passes
per second of audio, done in batches of `embed.BATCH_SIZE` windows across all sounds;
pass `timestamp_hop_ms` to `load_model` for a coarser, cheaper grid.
"""
import os

import numpy as np
import tensorflow as tf

from clar_tf import embed

TIMESTAMP_HOP_MS = 50
MODEL_ENV = "CLAR_TF_MODEL"


class HearModel(tf.Module):
    """What `load_model` returns: an `embed.Embedder` with the HEAR attributes.

    Attributes:
      sample_rate: 16000 (the rate CLAR models are trained at).
      scene_embedding_size, timestamp_embedding_size: D, both the encoder's width.
      timestamp_hop_ms: spacing of timestamp embeddings.
      embedder: the underlying `embed.Embedder`.
    """

    def __init__(self, embedder, timestamp_hop_ms=TIMESTAMP_HOP_MS):
        super().__init__(name="clar_hear")
        if not timestamp_hop_ms * embedder.sample_rate / 1000 >= 1:
            raise ValueError("timestamp_hop_ms must span at least one sample. "
                             f"Received: timestamp_hop_ms={timestamp_hop_ms}")
        self.embedder = embedder
        self.sample_rate = embedder.sample_rate
        self.scene_embedding_size = embedder.embedding_size
        self.timestamp_embedding_size = embedder.embedding_size
        self.timestamp_hop_ms = timestamp_hop_ms


def load_model(model_file_path="", timestamp_hop_ms=TIMESTAMP_HOP_MS):
    """Loads a CLAR model for the HEAR API.

    Args:
      model_file_path: a training run's `model_dir` or a `clar_tf.export` folder; empty:
        the path in the environment variable CLAR_TF_MODEL.
      timestamp_hop_ms: spacing of `get_timestamp_embeddings` frames (HEAR suggests
        <= 50 ms).

    Runs none of an export's graph (`embed.load`): its metadata file is checked against
    the graph's `metadata` signature before the first embedding, and a file that differs
    is refused there (ValueError naming the file and fields); `model.embedder.verify()`
    checks at once.
    """
    path = model_file_path or os.environ.get(MODEL_ENV, "")
    if not path:
        raise ValueError("clar_tf.hear.load_model needs a model: pass a clar_tf model_dir "
                         f"or export folder, or set {MODEL_ENV}")
    return HearModel(embed.load(path), timestamp_hop_ms)


def _as_numpy(audio):
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise ValueError("Expected audio of shape [n_sounds, samples] with at least one "
                         f"sample. Received: shape={audio.shape}")
    return audio


def get_scene_embeddings(audio, model):
    """float32 tf.Tensor [n_sounds, D]: one embedding per sound (module docstring)."""
    clips, _, _ = embed.embed(_as_numpy(audio), model.sample_rate, model.embedder)
    return tf.constant(clips, tf.float32)


def get_timestamp_embeddings(audio, model):
    """Frame embeddings every `model.timestamp_hop_ms` (module docstring).

    Args:
      audio: float32 [n_sounds, samples] at `model.sample_rate`.
      model: from `load_model`.

    Returns:
      `(embeddings, timestamps)`: float32 tf.Tensors [n_sounds, T, D] and [n_sounds, T],
      the latter the frame centres in milliseconds, T = 1 + samples // hop.
    """
    audio = _as_numpy(audio)
    embedder = model.embedder
    hop = int(round(model.timestamp_hop_ms * model.sample_rate / 1000))
    num_frames = 1 + audio.shape[1] // hop
    frames = embed.embed_windows(embedder, audio, hop, embedder.clip_length // 2,
                                 num_frames)
    ms = np.arange(num_frames) * hop * 1000.0 / model.sample_rate
    timestamps = np.broadcast_to(ms, (audio.shape[0], num_frames))
    return tf.constant(frames, tf.float32), tf.constant(timestamps, tf.float32)
