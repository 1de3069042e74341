"""``final.md`` from a :class:`analysis.final_table.FinalTable`: the table for reading, its prose, the files.

:func:`display_table` turns ``final.csv`` into text columns (mean ± std),
:func:`markdown` renders the page (pure: a FinalTable in, text out), and
:func:`write_final` puts ``final.csv``, ``final_runs.csv`` and ``final.md`` on
disk. ``analysis.protocol_report`` shows the same table in ``protocol.md``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .final_table import FinalTable
from .formatting import mean_std, value_text
from .kmeans import N_INIT
from .markdown import markdown_table
from .verdicts import lead_verdict

#: How each row of the table was measured (final.md, under the table).
MEASURED = [
    "- mean ± sample standard deviation (ddof 1) over the runs on the **test set**; every method is "
    "fitted on the training set and each test sample is assigned to its cluster (DC-SOMRL: its "
    "winning node; k-means: its nearest centroid); Purity is eq. 9, NMI eq. 8 (arithmetic mean); "
    "AMI and ARI are adjusted for chance (scikit-learn). NMI and Purity grow with the number "
    "of clusters (Purity is 1 with one cluster per sample), so compare them at equal k: the "
    "*k = nodes* rows give k-means each trained map's own node count.",
    "- the studied model (first row) and each model baseline: one trial per seed through the study "
    "runner, the same seeds for every model; only COMPLETE trials count. *epochs*: the training "
    "epochs (DE-SOM's iteration budget converted: iterations × batch / training rows); *seconds*: "
    "per run (training and evaluation; for k-means the fit and the prediction).",
    f"- k-means raw inputs: scikit-learn KMeans (k-means++, n_init={N_INIT}, random_state = the "
    "seed) on the dataset's normalized inputs, one run per seed of the study (k = nodes: the "
    "node count of that seed's trained map).",
    "- k-means latent codes: the same on each trained encoder's codes z = sigmoid(enc(x)), "
    "seeded with its trial's seed.",
    "- rows marked *paper, reference*: the paper's Table 1 as printed (10 runs on the authors' "
    "setup; DE-SOM without standard deviations; SOMRL's node count not reported), shown for "
    "comparison, not re-run here."]


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """``final.csv`` for reading: method, source, runs, Purity, NMI, AMI, ARI and nodes as 'mean ± std'
    text, epochs, and seconds per run."""
    def column(stem: str, digits: int = 3) -> list[str]:
        if f"{stem}_mean" not in table:
            return ["–"] * len(table)
        return [mean_std(m, s, digits) for m, s in zip(table[f"{stem}_mean"], table[f"{stem}_std"])]

    return pd.DataFrame({
        "method": table["method"], "source": table["source"],
        "runs": [str(int(r)) if not pd.isna(r) else "–" for r in table["runs"]],
        "Purity": column("purity"), "NMI": column("nmi"), "AMI": column("ami"), "ARI": column("ari"),
        "nodes": column("nodes", 1),
        "epochs": [e if isinstance(e, str) else "–" for e in table.get("epochs", [None] * len(table))],
        "seconds": column("seconds", 1),
    })


def markdown(final: FinalTable) -> str:
    """``final.md``: the verdict (analysis.verdicts.lead_verdict), the table (mean ± std), what was run,
    how each row was measured, the notes, the values."""
    lines = [f"# {final.title}", "", lead_verdict(final.table), ""]
    lines += [*final.context, ""] if final.context else []
    lines += [markdown_table(display_table(final.table)), "", "How each row was measured:", "", *MEASURED]
    if final.notes:
        lines += ["", "Notes:", "", *(f"- {n}" for n in final.notes)]
    if final.values:
        values = final.values
        frame = pd.DataFrame({"parameter": list(values), "value": [value_text(v) for v in values.values()]})
        lines += ["", "## Fixed values", "", markdown_table(frame)]
    return "\n".join(lines) + "\n"


def write_final(final: FinalTable, out_dir) -> tuple[Path, Path]:
    """Write ``final.csv``, ``final_runs.csv`` and ``final.md`` (:func:`markdown`) into ``out_dir``;
    (the csv's path, the page's)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    final.table.to_csv(out / "final.csv", index=False)
    final.runs.to_csv(out / "final_runs.csv", index=False)
    (out / "final.md").write_text(markdown(final))
    return out / "final.csv", out / "final.md"
