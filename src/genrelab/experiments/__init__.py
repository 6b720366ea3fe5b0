"""Experiments: hyper-parameter tuning, cross-validated leaderboards, HTML reports, ensembles.

The modules import Optuna, matplotlib and the models on use only, so importing this package
(and the CLI commands built on it) stays cheap:

* :mod:`~genrelab.experiments.spaces` -- search spaces per model name;
* :mod:`~genrelab.experiments.tune` -- resumable Optuna studies (``genrelab tune``);
* :mod:`~genrelab.experiments.compare` -- models under one protocol, leakage flagged
  (``genrelab compare``);
* :mod:`~genrelab.experiments.report` -- the self-contained HTML report;
* :mod:`~genrelab.experiments.ensemble` -- ensembles of existing bundles (``genrelab ensemble``).
"""
