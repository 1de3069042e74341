"""Where a study lives and trains: :class:`Where`, the place the analysis layer's runners share.

``final``, ``protocol`` and ``best --candidates`` (analysis/) create or resume
their studies through :func:`studies.orchestrate.run_study`; a :class:`Where`
bundles what every such call repeats (storage, results folder, data folder,
worker slots, kept weights) and makes the call (:meth:`Where.run`).
"""
from __future__ import annotations

from dataclasses import dataclass

from studies import storage as st
from studies.orchestrate import run_study


@dataclass(frozen=True)
class Where:
    """Where a study lives and trains: storage, results folder, data folder, worker slots, kept weights."""

    storage: str | None            # a storage URL, or None: <results>/<study>/journal.log
    results: str                   # the results folder
    data_dir: str | None           # the data folder (dcsomrl.data.load_dataset)
    slots: tuple                   # the worker slots (studies.launch.plan_slots)
    save_models: str = "best"      # the weights each study keeps (studies/weights.py)

    def url(self, name: str) -> str:
        """The storage URL of the study ``name`` (:func:`studies.storage.resolve_url`)."""
        return st.resolve_url(self.storage, name, self.results)

    def run(self, name: str, design: dict, points: list[dict], label: str):
        """Create or resume the study ``name`` with ``design`` and ``points`` and train its waiting points
        with local workers (:func:`studies.orchestrate.run_study`); returns (study, exit code)."""
        return run_study(name, self.url(name), design, points, slots=list(self.slots), out=self.results,
                         data_dir=self.data_dir, label=label, save_models=self.save_models)
