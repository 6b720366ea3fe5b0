"""``genrelab tune``, ``genrelab compare`` and ``genrelab ensemble``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from genrelab.cli.app import app
from genrelab.cli.common import TrustBundle, TrustRemoteCode, allow_trust, err, out, parse_params
from genrelab.errors import GenrelabError
from genrelab.protocols import PROTOCOL_HELP, Protocol, parse_protocol

if TYPE_CHECKING:
    from genrelab.experiments.compare import Inputs


def _names(text: str, what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise GenrelabError(f"give at least one {what}")
    return names


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in _names(text, "seed")]
    except ValueError:
        raise GenrelabError(f"--seeds takes integers separated by commas, got {text!r}") from None


def _model_params(pairs: list[str] | None) -> dict[str, dict[str, Any]]:
    """``["svm.C=3"]`` -> ``{"svm": {"C": 3}}``."""
    grouped: dict[str, dict[str, Any]] = {}
    for pair in pairs or []:
        model, dot, rest = pair.partition(".")
        if not dot or "=" not in rest:
            raise GenrelabError(f"bad --param {pair!r}; expected MODEL.NAME=VALUE")
        grouped.setdefault(model, {}).update(parse_params([rest]))
    return grouped


def _inputs(
    data: str, feature_set: str, window: float, hop: float | None, audio_window: float, jobs: int
) -> Inputs:
    from genrelab.experiments.compare import Inputs

    return Inputs(
        data,
        feature_set=feature_set,
        window_s=window,
        hop_s=hop,
        audio_window_s=audio_window,
        n_jobs=jobs,
    )


FeatureSetOption = Annotated[str, typer.Option(help="Feature set for feature models.")]
WindowOption = Annotated[
    float, typer.Option(min=0.5, help="Feature models: window length in seconds on audio data.")
]
HopOption = Annotated[
    float | None, typer.Option(min=0.1, help="Feature models: hop in seconds (default: window).")
]
AudioWindowOption = Annotated[
    float, typer.Option(min=0.5, help="Neural models: seconds per training window.")
]
JobsOption = Annotated[int, typer.Option(min=1, help="Parallel feature-extraction workers.")]


def _leak_banner(message: str) -> None:
    from rich.panel import Panel

    err.print(
        Panel(
            message,
            title="[bold]WARNING: LEAKY PROTOCOL[/bold]",
            border_style="bold red",
            style="red",
        ),
    )


@app.command()
def compare(
    models: Annotated[str, typer.Option(help="Comma-separated model names, e.g. knn,svm,xgboost.")],
    data: Annotated[
        str, typer.Option(help="Dataset: folder, GTZAN/FMA root, manifest or feature CSV.")
    ],
    output: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the leaderboard and report.")
    ],
    protocol: Annotated[
        str, typer.Option(help=f"Comma-separated protocols: {PROTOCOL_HELP}.")
    ] = "kfold-10",
    seeds: Annotated[
        str, typer.Option(help="Comma-separated seeds; single-split protocols run once per seed.")
    ] = "0",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="MODEL.NAME=VALUE hyper-parameter (repeatable)."),
    ] = None,
    feature_set: FeatureSetOption = "gtzan57",
    window: WindowOption = 30.0,
    hop: HopOption = None,
    audio_window: AudioWindowOption = 3.0,
    jobs: JobsOption = 1,
    test_data: Annotated[
        str | None,
        typer.Option(
            "--test-data",
            help="With --protocol cross-source: comma-separated datasets to score on (--data "
            "may then list several training datasets).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run models under the same protocol and seeds; write a leaderboard and an HTML report.

    Writes leaderboard.csv, leaderboard.md, results.json, report.html and figures/ to --out.
    Protocols that put windows of one track on both sides of a split are flagged loudly.
    --protocol cross-source fits on --data and scores each --test-data source (by
    leave-artist-group-out CV when it is also a training source), per source and per class.
    """
    parsed = [parse_protocol(name) for name in _names(protocol, "protocol")]
    if any(p.kind == "cross-source" for p in parsed):
        _cross_source(
            models, data, test_data, parsed, output, param, feature_set, window, hop, jobs
        )
        return
    if test_data is not None:
        raise GenrelabError("--test-data goes with --protocol cross-source")
    from genrelab.experiments.compare import compare as run_compare
    from genrelab.experiments.compare import leaderboard, leak_message
    from genrelab.experiments.report import write_results

    names = _names(models, "model")
    protocols = [p.name for p in parsed]
    seed_list = _seeds(seeds)
    inputs = _inputs(data, feature_set, window, hop, audio_window, jobs)

    def progress(model: str, protocol: str, result: Any) -> None:
        m = result.metrics
        flag = f" [bold red]LEAK ({len(result.leaked)} tracks)[/bold red]" if result.leaked else ""
        err.print(
            f"{protocol} · {model} · {result.name}: accuracy {m['accuracy']:.4f} "
            f"(fit {result.fit_s:.1f} s){flag}",
            highlight=False,
            soft_wrap=True,
        )

    entries = run_compare(inputs, names, protocols, seed_list, _model_params(param), progress)
    for path, message in inputs.errors():
        err.print(f"genrelab: skipped {path}: {message}", highlight=False, soft_wrap=True)
    meta = {"data": data, "protocols": ", ".join(protocols), "seeds": seeds}
    paths = write_results(entries, output, meta)
    _print_leaderboard(leaderboard(entries))
    if message := leak_message(entries):
        _leak_banner(message)
    out.print(f"leaderboard and report written to [bold]{output}[/bold] ({paths['html'].name})")


def _print_leaderboard(frame: Any) -> None:
    from rich.table import Table

    table = Table(title="leaderboard")
    for col in (
        "model",
        "protocol",
        "runs",
        "accuracy",
        "balanced acc.",
        "macro-F1",
        "fit s",
        "leak",
    ):
        table.add_column(col, justify="left" if col in ("model", "protocol") else "right")
    from genrelab.experiments.report import mean_std

    for row in frame.to_dict("records"):
        cells = [
            mean_std(row[k], row[f"{k}_std"], row["runs"], digits=4)
            for k in ("accuracy", "balanced_accuracy", "macro_f1")
        ]
        leak = f"[bold red]LEAK ({row['leaked_tracks']})[/bold red]" if row["leak"] else "no"
        table.add_row(
            row["model"], row["protocol"], str(row["runs"]), *cells, f"{row['fit_s']:.2f}", leak
        )
    out.print(table)


@app.command()
def tune(
    model: Annotated[str, typer.Option("--model", "-m", help="Registered model name.")],
    data: Annotated[
        str, typer.Option(help="Dataset: folder, GTZAN/FMA root, manifest or feature CSV.")
    ],
    trials: Annotated[int, typer.Option(min=1, help="Finished trials the study should hold.")],
    protocol: Annotated[
        str, typer.Option(help="kfold-K (per-fold pruning) or a single split scored on valid.")
    ] = "kfold-5",
    study_dir: Annotated[
        Path | None,
        typer.Option(help="Folder of study.db, plots and best.json (default: studies/<model>)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Bundle with the best parameters (default: <study-dir>/bundle)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the sampler, the folds and the models.")] = 0,
    metric: Annotated[
        str, typer.Option(help="What to maximise: accuracy, balanced_accuracy or macro_f1.")
    ] = "accuracy",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Fix a hyper-parameter NAME=VALUE (repeatable)."),
    ] = None,
    feature_set: FeatureSetOption = "gtzan57",
    window: WindowOption = 30.0,
    hop: HopOption = None,
    audio_window: AudioWindowOption = 3.0,
    jobs: JobsOption = 1,
) -> None:
    """Tune a model's hyper-parameters with Optuna (TPE, median pruning) and train the best.

    The study is stored in <study-dir>/study.db: rerunning the same command after an
    interruption resumes it until it holds --trials finished trials.
    """
    from genrelab.experiments.tune import save_plots, train_best
    from genrelab.experiments.tune import tune as run_tune

    folder = study_dir or Path("studies") / model
    inputs = _inputs(data, feature_set, window, hop, audio_window, jobs)

    def progress(trial: Any, finished: int) -> None:
        value = "" if trial.value is None else f" {trial.value:.4f}"
        err.print(
            f"trial {trial.number} ({finished}/{trials}): {trial.state.name.lower()}{value}",
            highlight=False,
        )

    result, study = run_tune(
        inputs,
        model,
        trials,
        folder,
        protocol=protocol,
        seed=seed,
        metric=metric,
        fixed=parse_params(param),
        on_trial=progress,
    )
    plots = save_plots(study, folder)
    bundle = train_best(inputs, model, result, protocol, seed)
    target = bundle.save(output or folder / "bundle")
    states = ", ".join(f"{n} {state}" for state, n in sorted(result.states.items()))
    which = "the model's defaults" if result.best_is_defaults else f"trial {result.best_trial}"
    out.print(
        f"best {metric} {result.best_value:.4f} ({which}; {result.finished} finished: {states})"
    )
    out.print(f"best parameters: {result.shown_params(parse_params(param))}", highlight=False)
    out.print(
        f"study in [bold]{folder}[/bold] ({', '.join(p.name for p in plots)}); "
        f"bundle written to [bold]{target}[/bold]"
    )


class Method(StrEnum):
    soft = "soft"
    stack = "stack"


@app.command()
def ensemble(
    bundles: Annotated[
        list[str], typer.Argument(help="Two or more bundle folders ('default' too).")
    ],
    output: Annotated[Path, typer.Option("--out", "-o", help="Ensemble bundle folder to write.")],
    method: Annotated[
        Method,
        typer.Option(help="soft: weighted mean of probabilities; stack: logistic regression."),
    ] = Method.soft,
    weights: Annotated[
        str | None,
        typer.Option(
            help="Soft-vote weights, e.g. 2,1,1 (default: learnt from --data, else equal)."
        ),
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="Labelled tracks to fit weights or the stacker on.")
    ] = None,
    split: Annotated[
        str, typer.Option(help="Which rows of --data: train, valid, test or all.")
    ] = "valid",
    protocol: Annotated[
        str | None, typer.Option(help="Assign --data splits with this protocol first.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for --protocol.")] = 0,
    include_seen: Annotated[
        bool,
        typer.Option(
            "--include-seen",
            help="Also fit on rows of --data that a member was fitted on (left out by default).",
        ),
    ] = False,
    trust_bundle: TrustBundle = False,
    trust_remote_code: TrustRemoteCode = False,
) -> None:
    """Combine trained bundles (any front ends and sample rates) into one ensemble bundle.

    The result works with classify, evaluate and serve like any bundle. Fit weights or the
    stacker on tracks the members did not train on (e.g. --split valid).
    """
    from genrelab.experiments.ensemble import build_ensemble

    allow_trust(trust_bundle, trust_remote_code)
    weight_list = None
    if weights is not None:
        try:
            weight_list = [float(w) for w in _names(weights, "weight")]
        except ValueError:
            raise GenrelabError(
                f"--weights takes numbers separated by commas, got {weights!r}"
            ) from None
    bundle = build_ensemble(
        bundles,
        method.value,
        weight_list,
        data=data,
        split=split,
        protocol=protocol,
        seed=seed,
        include_seen=include_seen,
        on_note=lambda note: err.print(f"genrelab: {note}", highlight=False, soft_wrap=True),
    )
    labels = [set(m["labels"]) for m in bundle.model.members]
    if any(s != labels[0] for s in labels):
        err.print(
            "genrelab: the members know different genres; the ensemble uses their union "
            "(a member gives 0 to genres it does not know)",
            highlight=False,
        )
    target = bundle.save(output)
    if "weights" in bundle.card.training:
        out.print(f"weights: {bundle.card.training['weights']}", highlight=False)
    if bundle.card.validation:
        from genrelab.cli.train import _show_validation

        _show_validation(bundle.card.validation)
    out.print(f"{method.value} ensemble of {len(bundles)} bundles written to [bold]{target}[/bold]")


def _cross_source(
    models: str,
    data: str,
    test_data: str | None,
    protocols: list[Protocol],
    output: Path,
    param: list[str] | None,
    feature_set: str,
    window: float,
    hop: float | None,
    jobs: int,
) -> None:
    from rich.table import Table

    from genrelab.atomic import write_json, write_text
    from genrelab.experiments.cross_source import cross_source, load_source, markdown

    if len(protocols) != 1:
        raise GenrelabError("cross-source runs alone: give --protocol cross-source only")
    if not test_data:
        raise GenrelabError("--protocol cross-source needs --test-data (datasets to score on)")
    names = _names(models, "model")
    params = _model_params(param)
    specs = list(dict.fromkeys(_names(data, "dataset") + _names(test_data, "dataset")))
    sources = {}
    for spec in specs:
        err.print(f"featurising {spec}", highlight=False, soft_wrap=True)
        sources[spec] = load_source(spec, feature_set, window, hop, jobs)
        for path, message in sources[spec].errors:
            err.print(f"genrelab: skipped {path}: {message}", highlight=False, soft_wrap=True)
    train = [sources[s] for s in _names(data, "dataset")]
    test = [sources[s] for s in _names(test_data, "dataset")]

    def step(text: str) -> None:
        err.print(f"cross-source · {text}", highlight=False, soft_wrap=True)

    results = [cross_source(m, params.get(m, {}), train, test, on_step=step) for m in names]
    table = Table(title="cross-source: worst source first", title_justify="left")
    for column in ("model", "test source", "how", "accuracy", "recall per class", "unscored"):
        table.add_column(column, overflow="fold")
    for r in results:
        for name, s in sorted(r["sources"].items(), key=lambda kv: kv[1]["metrics"]["accuracy"]):
            per = s["metrics"]["per_class"]
            recall = ", ".join(f"{c} {v['recall']:.2f}" for c, v in per.items() if v["support"])
            unscored = s["unscored"]
            skipped = (
                f"{unscored['files']} ({', '.join(unscored['labels'])})"
                if unscored["files"]
                else ""
            )
            acc = f"{s['metrics']['accuracy']:.3f}"
            table.add_row(r["model"], name, s["how"], acc, recall, skipped)
    out.print(table)
    write_json(output / "cross_source.json", results)
    write_text(output / "cross_source.md", markdown(results))
    out.print(f"results written to [bold]{output}[/bold] (cross_source.json, cross_source.md)")
