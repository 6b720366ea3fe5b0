"""What a comparison writes: the leaderboard tables, the results and one self-contained HTML
report (PNG figures inlined, no scripts).

Every figure is also kept as a PNG beside the report (written atomically), so documents can
link them; the HTML itself embeds them as base64 and needs nothing else to open.
"""

from __future__ import annotations

import base64
import html
import json
import re
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genrelab._version import __version__
from genrelab.atomic import write_text
from genrelab.evaluation.plots import plot_confusion, plot_importances, save_figure
from genrelab.experiments.compare import Entry, leaderboard, leak_message

if TYPE_CHECKING:
    import pandas as pd

_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
  color:#1d2330;background:#f4f6f9}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;
  border-bottom:2px solid #d9dee7;padding-bottom:4px}h3{font-size:16px;margin:0 0 8px}
.meta{color:#5b6474;font-size:13px;margin-bottom:16px}
.leak{background:#fde8e8;border:3px solid #c81e1e;color:#771d1d;border-radius:8px;
  padding:12px 16px;margin:16px 0;font-weight:600}
.leak strong{color:#c81e1e;font-size:17px;display:block;margin-bottom:4px;letter-spacing:.5px}
.leak span{font-weight:400}
table{border-collapse:collapse;width:100%;background:#fff;font-size:14px;
  box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{padding:6px 10px;border-bottom:1px solid #e3e7ee;text-align:right;white-space:nowrap}
th{background:#eef1f6;font-weight:600}th:first-child,td:first-child,
th:nth-child(2),td:nth-child(2){text-align:left}
tr.leaky td{background:#fde8e8;color:#771d1d}
td.flag{color:#c81e1e;font-weight:700}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:16px}
.card{background:#fff;border-radius:8px;padding:14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card img{max-width:100%;height:auto;display:block;margin:8px auto}
.card.leaky{border:2px solid #c81e1e}
.note{color:#5b6474;font-size:13px}
figure{margin:0}figure.wide img{max-width:100%;height:auto;background:#fff;border-radius:8px}
"""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _figure(**kwargs: Any) -> Any:
    """A pyplot-free figure: nothing global to close, safe in any thread."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _png(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def plot_per_class_f1(per_class: dict[str, dict[str, float]], path: Path, title: str) -> Path:
    labels = list(per_class)
    scores = [per_class[label]["f1"] for label in labels]
    fig = _figure(figsize=(5, 0.3 * len(labels) + 1.2))
    ax = fig.subplots()
    ax.barh(labels[::-1], scores[::-1], color="#4c72b0")
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)


def plot_curves(histories: Sequence[Sequence[dict[str, float]]], path: Path, title: str) -> Path:
    """Loss and accuracy per epoch, one thin line per run."""
    fig = _figure(figsize=(9, 3.4))
    loss_ax, acc_ax = fig.subplots(1, 2)
    for i, history in enumerate(histories):
        epochs = [row["epoch"] for row in history]
        for ax, keys in (
            (loss_ax, ("train_loss", "valid_loss")),
            (acc_ax, ("train_accuracy", "valid_accuracy")),
        ):
            for key, style in zip(keys, ("-", "--"), strict=True):
                if key in history[0]:
                    ax.plot(
                        epochs,
                        [row[key] for row in history],
                        style,
                        color=f"C{i % 10}",
                        alpha=0.8,
                        label=key if i == 0 else None,
                    )
    for ax, name in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_title(f"{title}: {name}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_scores(frame: Any, path: Path) -> Path:
    """Accuracy ± std per model, one group of bars per protocol; leaky bars in red."""
    protocols = list(dict.fromkeys(frame["protocol"]))
    models = list(dict.fromkeys(frame["model"]))
    width = 0.8 / max(1, len(protocols))
    fig = _figure(figsize=(max(6, 1.1 * len(models) + 2), 3.6))
    ax = fig.subplots()
    for j, protocol in enumerate(protocols):
        part = frame[frame["protocol"] == protocol].set_index("model").reindex(models)
        x = np.arange(len(models)) + (j - (len(protocols) - 1) / 2) * width
        leaky = part["leak"].fillna(False).astype(bool).to_numpy()
        ax.bar(
            x,
            part["accuracy"].to_numpy(float),
            width * 0.92,
            yerr=part["accuracy_std"].to_numpy(float),
            capsize=3,
            color=[("#c81e1e" if bad else f"C{j % 10}") for bad in leaky],
            label=protocol + (" (LEAKS)" if leaky.any() else ""),
        )
    ax.set_xticks(range(len(models)), models, rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(protocols))
    ax.set_title("accuracy (mean ± std over folds or seeds)", pad=28)
    return save_figure(fig, path)


def mean_std(mean: float, std: float, runs: int, digits: int = 3) -> str:
    """``0.812 ± 0.031``; a single run has no spread to show, so just ``0.812``."""
    return f"{mean:.{digits}f}" if runs < 2 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def runs_text(runs: int) -> str:
    return f"{runs} run" + ("" if runs == 1 else "s")


def _table(frame: Any) -> str:
    head = (
        "<tr><th>model</th><th>protocol</th><th>runs</th><th>accuracy</th>"
        "<th>balanced acc.</th><th>macro-F1</th><th>fit (s)</th><th>predict (ms/track)</th>"
        "<th>leak</th></tr>"
    )
    rows = []
    for row in frame.to_dict("records"):
        cells = [html.escape(row["model"]), html.escape(row["protocol"]), str(row["runs"])]
        cells += [
            mean_std(row[k], row[f"{k}_std"], row["runs"])
            for k in ("accuracy", "balanced_accuracy", "macro_f1")
        ]
        cells += [f"{row['fit_s']:.2f}", f"{row['predict_ms_per_track']:.2f}"]
        flag = f"LEAK ({row['leaked_tracks']} tracks)" if row["leak"] else "no"
        tds = "".join(f"<td>{c}</td>" for c in cells)
        tds += f'<td class="flag">{flag}</td>' if row["leak"] else f"<td>{flag}</td>"
        rows.append(f'<tr class="leaky">{tds}</tr>' if row["leak"] else f"<tr>{tds}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _card(entry: Entry, figures: Path) -> str:
    stem = f"{_slug(entry.protocol)}/{_slug(entry.model)}"
    pooled = entry.pooled()
    title = f"{entry.model} · {entry.protocol}"
    images = [
        _png(
            plot_confusion(
                pooled["confusion_matrix"],
                entry.labels,
                figures / f"{stem}-confusion.png",
                title=f"{entry.model}: confusion (all test tracks)",
            ),
            f"confusion matrix of {title}",
        ),
        _png(
            plot_per_class_f1(
                pooled["per_class"], figures / f"{stem}-f1.png", f"{entry.model}: per-class F1"
            ),
            f"per-class F1 of {title}",
        ),
    ]
    histories = [r.history for r in entry.runs if r.history]
    if histories:
        path = plot_curves(histories, figures / f"{stem}-curves.png", entry.model)
        images.append(_png(path, f"training curves of {title}"))
    importances = entry.mean_importances()
    if importances is not None and entry.feature_names:
        path = plot_importances(
            importances, entry.feature_names, figures / f"{stem}-importances.png", top=15
        )
        images.append(_png(path, f"feature importances of {title}"))
    summary = entry.summary()
    leak = (
        f'<p class="flag"><strong>LEAK:</strong> {len(entry.leaked_tracks)} tracks on both '
        f"sides, e.g. {html.escape(entry.leaked_tracks[0])}</p>"
        if entry.leak
        else ""
    )
    params = html.escape(", ".join(f"{k}={v}" for k, v in entry.params.items()) or "defaults")
    return (
        f'<div class="card{" leaky" if entry.leak else ""}"><h3>{html.escape(entry.model)}</h3>'
        f'<p class="note">accuracy '
        f"{mean_std(summary['accuracy'], summary['accuracy_std'], summary['runs'])} "
        f"over {runs_text(summary['runs'])} · {pooled['n']} test tracks in all · parameters: "
        f"{params}</p>{leak}{''.join(images)}</div>"
    )


def render_report(
    entries: Sequence[Entry], meta: dict[str, Any] | None = None, figures: Path | None = None
) -> str:
    """The report's HTML; figures are written under ``figures`` (a temporary folder if None)."""
    if figures is None:
        with tempfile.TemporaryDirectory(prefix="genrelab-report-") as tmp:
            return render_report(entries, meta, Path(tmp))
    meta = dict(meta or {})
    frame = leaderboard(entries)
    details = " · ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in meta.items())
    created = datetime.now(UTC).isoformat(timespec="seconds")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>genrelab comparison</title><style>{_CSS}</style></head><body><main>",
        "<h1>Model comparison</h1>",
        f'<p class="meta">{details}{" · " if details else ""}generated {created} '
        f"by genrelab {__version__}</p>",
    ]
    if message := leak_message(entries):
        head, _, rest = message.partition(": ")
        parts.append(
            f'<div class="leak" role="alert"><strong>⚠ {html.escape(head)}</strong>'
            f"<span>{html.escape(rest)}</span></div>"
        )
    parts += [
        "<h2>Leaderboard</h2>",
        _table(frame),
        '<figure class="wide">',
        _png(plot_scores(frame, figures / "scores.png"), "accuracy per model and protocol"),
        "</figure>",
    ]
    for protocol in dict.fromkeys(e.protocol for e in entries):
        group = [e for e in entries if e.protocol == protocol]
        parts.append(f"<h2>{html.escape(protocol)}</h2>")
        if any(e.leak for e in group):
            parts.append(
                '<div class="leak"><strong>⚠ THIS PROTOCOL LEAKS</strong><span>Windows of the '
                "same track are in training and in test: the scores below measure recognising "
                "recordings, not genres.</span></div>"
            )
        parts.append('<div class="grid">' + "".join(_card(e, figures) for e in group) + "</div>")
    parts.append(
        '<p class="note">Scores are per track (mean probability over its windows) on the test '
        "part of each run; ± is the standard deviation over folds (k-fold) or over seeds "
        "(single-split protocols). Timings cover the model only, not feature extraction.</p>"
    )
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    entries: Sequence[Entry],
    path: str | Path,
    meta: dict[str, Any] | None = None,
    figures: str | Path | None = None,
) -> Path:
    """Write the report atomically; PNGs go to ``figures`` (default: ``<path>.figures``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(figures) if figures is not None else path.with_suffix(".figures")
    return write_text(path, render_report(entries, meta, folder))


def markdown_table(frame: pd.DataFrame) -> str:
    """The leaderboard as a Markdown table, with ``mean ± std`` cells and a loud leak flag."""
    head = ["model", "protocol", "runs", "accuracy", "balanced acc.", "macro-F1"]
    head += ["fit (s)", "predict (ms/track)", "leak"]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] * 2 + ["--:"] * 6 + [":-:"]) + "|",
    ]
    for row in frame.to_dict("records"):
        cells = [row["model"], f"`{row['protocol']}`", str(row["runs"])]
        cells += [
            mean_std(row[k], row[f"{k}_std"], row["runs"])
            for k in ("accuracy", "balanced_accuracy", "macro_f1")
        ]
        cells += [f"{row['fit_s']:.2f}", f"{row['predict_ms_per_track']:.2f}"]
        cells.append(f"**LEAK** ({row['leaked_tracks']} tracks)" if row["leak"] else "no")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_results(
    entries: Sequence[Entry], folder: str | Path, meta: dict[str, Any] | None = None
) -> dict[str, Path]:
    """Write ``leaderboard.csv``, ``leaderboard.md``, ``results.json`` and ``report.html``."""
    folder = Path(folder)
    frame = leaderboard(entries)
    meta = dict(meta or {})
    document = {"meta": meta, "entries": [e.to_dict() for e in entries]}
    return {
        "csv": write_text(folder / "leaderboard.csv", frame.to_csv(index=False)),
        "markdown": write_text(folder / "leaderboard.md", markdown_table(frame)),
        "json": write_text(
            folder / "results.json", json.dumps(document, indent=1, default=_jsonable) + "\n"
        ),
        "html": write_report(entries, folder / "report.html", meta, figures=folder / "figures"),
    }


def _jsonable(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)
