"""The figures of the experiment drivers (Fig. 4 heatmap, Fig. 5 curves), with matplotlib."""
import os
import warnings

import numpy as np


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def matrix_with_means(values, labels):
    """Fig. 4's matrix: `[n + 1, n + 1]` with row means, column means and overall mean.

    Args:
        values: dict `(first, second) -> list of top-1` (seeds); `first == second` is the
            single augmentation (the diagonal).
        labels: the n augmentations, in row/column order.
    Returns:
        float array; `[i, j]` the mean over seeds of first=labels[i], second=labels[j]
        (NaN when missing), `[i, n]` the mean of row i (the augmentation applied first),
        `[n, j]` the mean of column j (applied second), `[n, n]` the mean of all n × n cells.
    """
    n = len(labels)
    m = np.full((n + 1, n + 1), np.nan)
    for i, first in enumerate(labels):
        for j, second in enumerate(labels):
            v = values.get((first, second))
            if v:
                m[i, j] = np.mean(v)
    with warnings.catch_warnings():  # all-NaN rows (a grid still running) stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        m[:n, n] = np.nanmean(m[:n, :n], axis=1)
        m[n, :n] = np.nanmean(m[:n, :n], axis=0)
        m[n, n] = np.nanmean(m[:n, :n])
    return m


def plot_heatmap(matrix, labels, path, title):
    """Fig. 4 layout: rows = first augmentation, columns = second, means last (in %)."""
    plt = _pyplot()
    n = len(labels)
    pct = 100 * np.asarray(matrix, float)
    finite = pct[np.isfinite(pct)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0, 100)
    if vmax - vmin < 1e-9:
        vmin, vmax = vmin - 1, vmax + 1
    size = 1.2 + 0.75 * (n + 1)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(np.ma.masked_invalid(pct), cmap="viridis", vmin=vmin, vmax=vmax)
    for i in range(n + 1):
        for j in range(n + 1):
            if np.isfinite(pct[i, j]):
                bright = (pct[i, j] - vmin) / (vmax - vmin) > 0.6
                ax.text(j, i, f"{pct[i, j]:.1f}", ha="center", va="center", fontsize=8,
                        color="black" if bright else "white",
                        fontweight="bold" if i == n or j == n else "normal")
    ticks = list(labels) + ["mean"]
    ax.set_xticks(range(n + 1), ticks)
    ax.set_yticks(range(n + 1), ticks)
    ax.axhline(n - 0.5, color="white", linewidth=3)
    ax.axvline(n - 0.5, color="white", linewidth=3)
    ax.set_xlabel("second augmentation")
    ax.set_ylabel("first augmentation")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="top-1 (%)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_curves(panels, path, title, method_labels=None):
    """One panel per key of `panels`: `{panel title: {line label: (epochs, mean, std)}}`."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    method_labels = method_labels or {}
    order = list(dict.fromkeys(label for lines in panels.values() for label in lines))
    colors = {label: f"C{i}" for i, label in enumerate(order)}  # one colour per line label
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(4 * max(1, len(panels)), 3.6),
                             sharey=True, squeeze=False)
    for ax, (panel, lines) in zip(axes[0], panels.items()):
        for label, (epochs, mean, std) in lines.items():
            epochs, mean = np.asarray(epochs), 100 * np.asarray(mean)
            ax.plot(epochs, mean, marker="o", markersize=3, color=colors[label],
                    label=method_labels.get(label, label))
            if std is not None and np.any(np.isfinite(std)):
                std = 100 * np.nan_to_num(np.asarray(std))
                ax.fill_between(epochs, mean - std, mean + std, alpha=0.2,
                                color=colors[label])
        ax.set_title(panel)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("linear-eval top-1 (%)")
    handles = {h.get_label(): h for ax in axes[0] for h in ax.get_lines()}
    axes[0][-1].legend(list(handles.values()), list(handles), fontsize=8, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
