"""Audio decoding: the one place clar_tf reads audio from disk.

Every reader (dataset preparation, demo data, embeddings) goes through `read_audio`,
which decodes with soundfile, mixes to mono and resamples with soxr, so there is exactly
one decoder and one resampler in the library. `pad_or_clip` implements the paper's
fixed-length rule (§3.1): zeros appended on the right, or the right side cut off.
"""
import os
import re

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16000

# libsndfile logs "data : <declared> (should be <available>)" for a WAV whose data chunk
# runs past the end of the file; it then silently returns the shorter signal. Streaming
# writers (`espeak-ng --stdout`, ffmpeg to a pipe) cannot seek back to fill in the size
# and declare a placeholder of about 2**31 or 2**32 bytes instead: not a truncation.
_SHORT_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_STREAMING_PLACEHOLDER = 0x7FFF0000


class AudioError(ValueError):
    """An audio file that cannot be used: unreadable, corrupt, empty or truncated."""


def to_mono(x):
    """Averages channels: `[n]` stays `[n]`, `[n, channels]` becomes `[n]` (float32)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        return x
    if x.ndim != 2:
        raise ValueError(f"Expected audio of shape [n] or [n, channels]. Received: shape={x.shape}")
    return x.mean(axis=1, dtype=np.float32)


def resample(x, orig_sr, target_sr):
    """Resamples mono audio `[n]` from `orig_sr` to `target_sr` Hz with soxr (float32)."""
    x = np.asarray(x, dtype=np.float32)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"Sample rates must be positive. Received: orig_sr={orig_sr}, "
                         f"target_sr={target_sr}")
    if orig_sr == target_sr:
        return x
    return soxr.resample(x, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def pad_or_clip(x, length):
    """Returns `x[:length]`, right-padded with zeros to exactly `length` samples."""
    if length <= 0:
        raise ValueError(f"length must be positive. Received: length={length}")
    x = np.asarray(x, dtype=np.float32)[:length]
    return np.pad(x, (0, length - x.shape[0]))


def _truncation(extra_info):
    """The (declared, available) data sizes of a cut-short WAV, else None."""
    match = _SHORT_DATA.search(extra_info)
    if not match:
        return None
    declared, available = int(match.group(1)), int(match.group(2))
    if available < declared < _STREAMING_PLACEHOLDER:
        return declared, available
    return None


def read_audio(path, sample_rate=SAMPLE_RATE):
    """Reads an audio file as mono float32 `[n]` at `sample_rate` Hz.

    Args:
      path: a path or binary file object that soundfile can decode (WAV, FLAC, OGG,
        MP3, AIFF, ...).
      sample_rate: target rate; the file is resampled with soxr when it differs.

    Returns:
      np.float32 array of shape [n], values as decoded (PCM scaled to [-1, 1)).

    Raises:
      AudioError: the file cannot be opened or decoded, holds no samples, holds
        non-finite samples, or is a WAV whose data chunk is cut short. The message
        names the path and the reason.
    """
    try:  # soundfile says only "System error." for a file it cannot open: the OS's reason
        if isinstance(path, (str, bytes, os.PathLike)):
            open(path, "rb").close()
    except OSError as e:
        why = (f"a symlink to {os.readlink(path)}, which does not exist"
               if os.path.islink(path) and not os.path.exists(path) else e.strerror)
        raise AudioError(f"Cannot read audio file {path}: {why}") from None
    try:
        with sf.SoundFile(path) as f:
            short = _truncation(f.extra_info)
            if short:
                raise AudioError(f"Truncated audio file {path}: the header declares "
                                 f"{short[0]} data bytes but only {short[1]} are present")
            x = f.read(dtype="float32", always_2d=True)
            file_sr = f.samplerate
    except (sf.SoundFileError, RuntimeError, OSError) as e:
        # The file opens (checked above): libsndfile's reason may still say "File does
        # not exist" after failing to find a format; say what is known first, in one line.
        raise AudioError(f"Cannot read audio file {path}: not in a format soundfile "
                         f"decodes, or damaged ({' '.join(str(e).split())})") from e
    if x.shape[0] == 0:
        raise AudioError(f"Empty audio file {path}: it holds no samples")
    if not np.all(np.isfinite(x)):
        raise AudioError(f"Corrupt audio file {path}: it holds NaN or infinite samples")
    return resample(to_mono(x), file_sr, sample_rate)


# soundfile's container names double as extensions; headerless RAW cannot be decoded.
AUDIO_EXTENSIONS = frozenset(
    {"." + f.lower() for f in sf.available_formats() if f != "RAW"} |
    {".aif", ".oga", ".opus"})


def is_audio_name(name):
    """Whether a file named `name` is listed as audio: not hidden, an audio extension."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


def audio_files(folder):
    """Sorted paths of the audio files under `folder`, recursively, hidden ones skipped
    (symlinked folders below `folder` are not entered; the folder dataset has its own
    listing, `clar_tf.datasets.folder`, which checks where every symlink leads)."""
    found = []
    for parent, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.join(parent, f) for f in files if is_audio_name(f)]
    return sorted(found)
