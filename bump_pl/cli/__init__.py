"""The four commands; each only wires the package's pieces together.

- ``bump`` (:mod:`~bump_pl.cli.bump`, LightningCLI in :mod:`~bump_pl.cli.app`): ``fit``, ``validate``,
  ``test``, ``predict`` and ``configs`` (shipped configs by name: :mod:`~bump_pl.cli.config_files`).
- ``bump-data`` (:mod:`~bump_pl.cli.data`): download LaMP or write synthetic users.
- ``bump-eval`` (:mod:`~bump_pl.cli.eval`): LaMP's official metrics for a predictions file.
- ``bump-downstream`` (:mod:`~bump_pl.cli.downstream`): downstream evaluation of cached profiles.

``from bump_pl.cli import main`` and ``python -m bump_pl.cli`` are ``bump``.
"""

from __future__ import annotations

from bump_pl._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {"main": "bump", "build_cli": "bump", "resolve_config_args": "config_files"})
