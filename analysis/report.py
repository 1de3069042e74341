"""The Markdown report a person reads first, with its CSV tables and PNG figures.

:func:`write_report` writes into ``out_dir``:

* ``report.md``: **the summary first** (:mod:`analysis.summary`: one table of
  every parameter against every outcome -- direction, strength, marks of the
  adjusted p-values (:mod:`analysis.screening`) --, one sentence per outcome,
  what this n can see, whether replicates rank alike (:mod:`analysis.stability`)
  and the study's one ``extend`` recommendation), then each outcome's detail
  written once (the evidence, the signals to confirm, the best range and trial),
  how sure (the rule; how far R² and rank R² let the regression measures be
  trusted), then the figures, the tables and the rules;
* ``sensitivity.csv`` (:func:`analysis.sensitivity.analyze`),
  ``importance.csv`` (:func:`analysis.importance.analyze`);
* ``categorical.csv``: the categorical parameters (e.g. ``repel``) compared
  across their choices (:mod:`analysis.categorical`);
* per outcome ``scatter_<o>.png`` (paper Fig. 6), ``ecdf_<o>.png``,
  ``mcf_<o>.png`` (conditional CDFs), ``sensitivity_<o>.png`` (ranked bars),
  and ``choices_<o>.png`` when a categorical parameter varies.

How far regression measures are trusted (:func:`fit_quality`): R² >= 0.7
"good", >= 0.4 "partial", else "poor" (then rely on KS/KW and the figures);
the larger of R² and rank R² decides.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import cdf, importance, plots, screening, sensitivity, stability, summary
from .markdown import markdown_table, value_text
from .refine import best_trial, trial_label
from .sensitivity import Rules, Sensitivity
from .budget import budget_note
from .summary import HINT_P
from .errors import AnalysisError
from .table import Prepared, prepare

#: Sensitivity columns shown in the report's table.
REPORT_COLUMNS = ["parameter", "rank", "significant", "direction", "p_adj", "p_param", "pearson_r", "spearman_rho",
                  "src", "srrc", "pcc", "prcc", "prcc_p", "ks_stat", "ks_p", "kw_stat", "kw_p",
                  "behavioural_low", "behavioural_high"]


def fit_quality(r2: float, r2_rank: float) -> str:
    """'good' (max R² >= 0.7), 'partial' (>= 0.4), 'poor' (< 0.4) or 'not computed'."""
    best_r2 = np.nanmax([r2, r2_rank]) if not (np.isnan(r2) and np.isnan(r2_rank)) else np.nan
    if np.isnan(best_r2):
        return "not computed"
    return "good" if best_r2 >= 0.7 else "partial" if best_r2 >= 0.4 else "poor"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name))


def _p(p: float) -> str:
    """A p-value (or R²) to 2 significant digits; an underflow to 0 reads '< 1e-300'."""
    if np.isnan(p):
        return "–"
    return "< 1e-300" if p == 0 else f"{p:.2g}"


def _evidence(s: pd.Series) -> str:
    """Why a parameter counts: its coefficients and tests, the parameter's p and the adjusted p."""
    parts = [f"Spearman {s['spearman_rho']:+.2f}"]
    if not np.isnan(s["prcc"]):
        parts.append(f"PRCC {s['prcc']:+.2f} (p {_p(s['prcc_p'])})")
    parts.append(f"KS {s['ks_stat']:.2f} (p {_p(s['ks_p'])})")
    parts.append(f"KW p {_p(s['kw_p'])}")
    return ", ".join(parts) + f"; parameter p {_p(s['p_param'])}, adjusted p {_p(s['p_adj'])}"


def _range_text(s: pd.Series) -> str:
    """A parameter's behavioural range, or its one value where a single trial (or value) makes it."""
    lo, hi = s["behavioural_low"], s["behavioural_high"]
    if int(s["n_behavioural"]) < 2 or lo == hi:
        return f"{s['parameter']} = {lo:.6g} (one value: not a range)"
    return f"{s['parameter']} in [{lo:.6g}, {hi:.6g}]"


def power_lines(groups: list[tuple[list[str], int, int]], rules: Rules) -> list[str]:
    """What the study's n can see, once: ``groups`` of (outcomes, n, k) sharing one n and k."""
    lines = []
    for outcomes, n, k in groups:
        rho = screening.detectable_correlation(n, k, rules.level)
        which = "" if len(groups) == 1 else f" ({', '.join(outcomes)})"
        if np.isnan(rho):
            lines.append(f"**Power{which}.** {n} trials are too few to detect any effect.")
            continue
        lines.append(f"**Power{which}.** With n = {n} trials and {k} parameters, the rule finds an effect with "
                     f"80% probability when its |rank correlation| is at least {rho:.2f} (it explains about "
                     f"{rho ** 2:.0%} of the variance); weaker effects go unseen more than one time in five.")
    return lines


#: The note every report with NMI or Purity carries (SPEC 4): they reward a bigger map.
CLUSTER_BIAS = ("NMI and Purity rise with the number of clusters (Purity is 1 with one cluster per sample), so "
                "a parameter that grows the map (n_nodes) can look good on them; AMI and ARI are adjusted for "
                "chance and do not reward more clusters: read them beside NMI and Purity.")

#: The line the summary adds when the map's size is analysed (SPEC 4; the paper: 60-80 nodes on MNIST).
NODES_LINE = ("n_nodes, the number of nodes (clusters) the map ends with, is analysed beside the scores: its "
              "row says what drives the map's size (the paper reports 60-80 nodes on MNIST); its "
              "behavioural trials are the largest maps.")


def _tendency(s: pd.Series, outcome: str) -> str:
    """The sign of the monotone association in words (PRCC, else Spearman)."""
    r = s["prcc"] if not np.isnan(s["prcc"]) else s["spearman_rho"]
    if np.isnan(r) or abs(r) < 0.1:
        return "no monotone trend (a non-monotone effect: see the KS/KW tests and the figures)"
    return f"higher values tend to {'raise' if r > 0 else 'lower'} {outcome}"


def stability_lines(stabs: dict) -> list[str]:
    """Whether the replicates rank the parameters alike, once for every outcome (``stabs``: {outcome:
    analysis.stability.Stability or None}); nothing with one replicate (the recommendation says why)."""
    measured = {o: s for o, s in stabs.items() if s is not None}
    if not measured:
        return ["**Ranking stability** is not measured: the study has one replicate."]
    m = max(len(s.rankings) for s in measured.values())
    parts = [f"{o} **{'stable' if s.stable else 'not stable'}** (TDCC {s.tdcc:.2f}, p {_p(s.p)})"
             for o, s in measured.items()]
    return [f"**Ranking stability** over {m} replicates (Iman & Conover 1987; not stable: trust the order "
            f"only where the evidence is strong): " + "; ".join(parts) + "."]


def answer(sens: Sensitivity, table: pd.DataFrame, outcome: str) -> list[str]:
    """The detail of one outcome, as Markdown lines: what matters (with its evidence), the signals to
    confirm, what has no detectable effect, the best range and the best trial."""
    rows = sens.table.loc[sens.table["outcome"] == outcome].sort_values("rank")
    cats = sens.categorical.loc[sens.categorical["outcome"] == outcome]
    n, k = int(rows.iloc[0]["n"]), len(rows) + len(cats)
    rho = screening.detectable_correlation(n, k, sens.rules.level)
    lines = [f"### {outcome}", "", *_matter_lines(rows, cats, outcome, rho, sens.rules)]
    return lines + _signal_lines(rows, cats, outcome) + _best_lines(rows, cats, table, outcome, sens.rules)


def _hints(rows: pd.DataFrame) -> pd.DataFrame:
    """The (at most 3) strongest non-significant numeric parameters with parameter p < HINT_P."""
    non = rows.loc[~rows["significant"]]
    return non.loc[non["p_param"] < HINT_P].head(3)


def _matter_lines(rows: pd.DataFrame, cats: pd.DataFrame, outcome: str, rho: float, rules: Rules) -> list[str]:
    """The parameters that matter, in order of evidence; else why none does (too few trials, or none seen)."""
    n, k = int(rows.iloc[0]["n"]), len(rows) + len(cats)
    sig, sig_cats = rows.loc[rows["significant"]], cats.loc[cats["significant"].astype(bool)]
    if len(sig) or len(sig_cats):
        return [f"**Parameters that matter** (n = {n} trials, in order of evidence):",
                *[f"- **{s['parameter']}**: {s['direction']}; {_evidence(s)}" for _, s in sig.iterrows()],
                *[f"- **{c['parameter']}** (categorical): best choice **{c['best_choice']}** by median "
                  f"{outcome}; {c['groups']}; {_choice_evidence(c)}" for _, c in sig_cats.iterrows()]]
    if n < len(rows) + 2:
        return [f"**Too few trials** to answer for {outcome}: n = {n} for {len(rows)} numeric parameters; "
                f"the partial measures (PRCC) need at least {len(rows) + 2}, and an effect explaining "
                f"a quarter of the variance (|rho| 0.5) needs about "
                f"{screening.trials_needed(0.5, k, rules.level)} trials."]
    return [f"**No parameter has a detectable effect** on {outcome} at this size (n = {n} trials): "
            f"an effect weaker than |rho| {rho:.2f} goes unseen more than one time in five."]


def _signal_lines(rows: pd.DataFrame, cats: pd.DataFrame, outcome: str) -> list[str]:
    """The strongest signals that are not significant after the adjustment, then the parameters without
    a detectable effect (numeric in one sentence, categorical one each)."""
    hints, lines = _hints(rows), []
    idle_cats = cats.loc[~cats["significant"].astype(bool)]
    cat_hints = idle_cats.loc[idle_cats["p_param"].astype(float) < HINT_P]
    if len(hints) or len(cat_hints):
        lines += ["", f"**Strongest signals, not significant after the adjustment** (parameter p < {HINT_P:g}; "
                  f"confirm them with the replicate the summary recommends):"]
        lines += [f"- {s['parameter']}: {_tendency(s, outcome)}; {_evidence(s)}" for _, s in hints.iterrows()]
        lines += [f"- {c['parameter']} (categorical): {c['best_choice']} has the highest median {outcome}; "
                  f"{c['groups']}; {_choice_evidence(c)}" for _, c in cat_hints.iterrows()]
    rest = rows.loc[~rows["significant"]].drop(hints.index)
    if len(rest):
        lines.append("")
        lines.append("No detectable effect: " + ", ".join(
            f"{s['parameter']} (adjusted p {_p(s['p_adj'])})" for _, s in rest.iterrows()) + ".")
    for _, c in idle_cats.drop(cat_hints.index).iterrows():
        lines += ["", f"{c['parameter']} (categorical): no detectable difference between its choices "
                      f"({c['groups']}); {_choice_evidence(c)}."]
    return lines


def fit_text(first: pd.Series, outcome: str, n_params: int) -> str:
    """How far the regression measures describe ``outcome`` (``first``: a row of it), as one clause."""
    n = int(first["n"])
    quality = fit_quality(first["r2"], first["r2_rank"])
    if quality == "not computed":
        return (f"{outcome}: not computed (n = {n} trials for {n_params} numeric parameters; the regressions "
                f"need {n_params + 2}): rely on KS/KW and the figures")
    tail = ": rely on KS/KW and the figures" if quality == "poor" else ""
    return f"{outcome}: R² {_p(first['r2'])}, rank R² {_p(first['r2_rank'])}, fit {quality}{tail}"


def sure_lines(sens: Sensitivity, outcomes: list[str], k: int) -> list[str]:
    """How sure, once for the study: the significance rule, then how far the regressions fit each outcome."""
    fits = []
    for o in outcomes:
        rows = sens.table.loc[sens.table["outcome"] == o]
        fits.append(fit_text(rows.iloc[0], o, len(rows)))
    return [f"**How sure.** {_rule_text(sens.rules, k, 'the outcome')} Regression measures (SRC, SRRC, PCC, "
            f"PRCC) describe an outcome only as far as the regressions explain it: " + "; ".join(fits) + "."]


def _best_lines(rows: pd.DataFrame, cats: pd.DataFrame, table: pd.DataFrame, outcome: str,
                rules: Rules) -> list[str]:
    """The behavioural trials' ranges (of the significant parameters, else of all) and the best trial."""
    first, sig = rows.iloc[0], rows.loc[rows["significant"]]
    top = 100 * (1 - rules.behavioural_quantile)
    ranges = ", ".join(_range_text(s) for _, s in (sig if len(sig) else rows).iterrows())
    lines = ["", f"**Best range.** The behavioural trials ({outcome} >= {first['threshold']:.4g}, "
             f"the top {top:.0f}%, {int(first['n_behavioural'])} trials) have {ranges}."]
    best = best_trial(table, outcome)
    values = ", ".join(f"{p}={value_text(best[p])}" for p in [*rows["parameter"], *cats["parameter"]]
                       if p in best.index)
    return lines + [f"Best trial: {trial_label(best)}, {outcome} = {float(best[outcome]):.4g} at {values}.", ""]


def _rule_text(rules: Rules, k: int, outcome: str) -> str:
    """The significance rule in one or two sentences (analysis.screening)."""
    how = ("Westfall-Young step-down minP, family-wise error rate" if rules.control == "fwer"
           else "Benjamini-Hochberg, false discovery rate")
    return (f"Each parameter has one p-value: the smallest of its Spearman, PRCC and ends-vs-middle p-values "
            f"(Kruskal-Wallis and behavioural share for a categorical one), calibrated over "
            f"{rules.n_permutations} permutations of {outcome} (seed {rules.seed}); they are adjusted "
            f"across the {k} parameters ({how}); significant = adjusted p < {rules.level:g}.")


def _choice_evidence(c: pd.Series) -> str:
    """The categorical tests of one parameter (analysis.categorical)."""
    return (f"KW p {_p(c['kw_p'])}, behavioural share p {_p(c['share_p'])}; "
            f"parameter p {_p(c['p_param'])}, adjusted p {_p(c['p_adj'])}")


def _trial_counts(prep: Prepared) -> str:
    c = prep.counts
    others = {k: v for k, v in c["states"].items() if k != "COMPLETE"}
    text = f"{c['total']} trials in the table, {c['complete']} COMPLETE"
    if others:
        text += " (not used: " + ", ".join(f"{v} {k}" for k, v in sorted(others.items())) + ")"
    nan = {o: k for o, k in c["nan_outcomes"].items() if k}
    if nan:
        text += "; dropped for a missing outcome: " + ", ".join(f"{k} ({o})" for o, k in nan.items())
    return text + "."


#: What write_report writes; an earlier report's files of these names are removed first.
OWN_FILES = ("report.md", "sensitivity.csv", "importance.csv", "categorical.csv", "scatter_*.png", "ecdf_*.png",
             "mcf_*.png", "sensitivity_*.png", "choices_*.png")


def clear_previous(out_dir: Path) -> list[Path]:
    """Remove an earlier report's own files from ``out_dir`` (never anything else), so that no stale
    figure stands beside the new report. Returns what was removed."""
    removed = [f for pattern in OWN_FILES for f in out_dir.glob(pattern) if f.is_file()]
    for f in removed:
        f.unlink()
    return removed


def write_figures(prep: Prepared, sens: pd.DataFrame, out_dir: Path, *,
                  behavioural_quantile: float = 0.75,
                  scales: dict[str, str] | None = None) -> dict[str, list[tuple[Path, str]]]:
    """The PNG figures of each outcome; returns {outcome: [(path, caption)]} (``scales``: see analysis.plots)."""
    figures = {}
    for o in prep.outcomes:
        data, params = prep.outcome_data(o), prep.outcome_params(o)
        slug = _slug(o)
        figures[o] = [
            (plots.render_scatter_fits(data, params, o, out_dir / f"scatter_{slug}.png", scales=scales),
             "outcome vs each parameter with the OLS fit and its 95% confidence band (cf. paper Fig. 6); on a "
             "log or logit axis the fit is on log x or logit x, so the line drawn is the model fitted"),
            (plots.render_ecdf(cdf.ecdf(data[o]), o, out_dir / f"ecdf_{slug}.png"),
             "empirical CDF with the 95% DKW band"),
            (plots.render_conditional_cdfs(data, params, o, out_dir / f"mcf_{slug}.png",
                                           behavioural_quantile=behavioural_quantile, scales=scales),
             "Monte-Carlo filtering: each parameter's CDF over behavioural vs non-behavioural trials"),
            (plots.render_sensitivity_bars(plots.sensitivity_bars(sens, o), o, out_dir / f"sensitivity_{slug}.png"),
             plots.BAR_CAPTION),
        ]
        cats = prep.outcome_categorical(o)
        if cats:
            figures[o].append((plots.render_choices(prep.categorical_data(o), cats, o, out_dir / f"choices_{slug}.png"),
                               "outcome per choice of each categorical parameter (box: quartiles; dots: trials)"))
    return figures


def write_report(table: pd.DataFrame, out_dir, params=None, outcomes=("nmi", "purity"), *,
                 behavioural_quantile: float = 0.75, control: str = "fwer", level: float = 0.05, seed: int = 0,
                 importance_methods=importance.METHODS, title: str = "Sensitivity report",
                 scales: dict[str, str] | None = None, study: str | None = None, focus: str | None = None) -> Path:
    """Analyse ``table`` and write the report, tables and figures into ``out_dir``; returns report.md's path.

    ``scales``: each parameter's sampling scale (``{"lr": "log", "a_t": "log1m"}``,
    from the study's space), used for the figures' x-axes; missing ones are linear.

    ``control`` and ``level``: the significance rule (analysis.screening). ``study``: the study's
    name, for the commands the report offers; ``focus``: the outcome the ``extend`` recommendation
    serves (default: the largest need over the outcomes with a signal, analysis.summary.recommend). With two or more replicates (a ``replicate`` column),
    the ranking's stability across them is measured (analysis.stability).
    ``importance_methods``: the cross-checks to run (empty: none); ``seed``
    seeds them and the permutations, and is recorded (the Rules section, importance.csv's ``seed``
    column). Degenerate tables raise :class:`~analysis.errors.AnalysisError`.
    """
    prep = prepare(table, params, outcomes)
    if focus is not None and focus not in prep.outcomes:
        raise AnalysisError(f"--outcome {focus!r} is not among the analysed outcomes ({', '.join(prep.outcomes)})")
    sens = sensitivity.analyze(prep, behavioural_quantile=behavioural_quantile, control=control, level=level,
                               seed=seed)
    imp = (importance.analyze(prep, methods=importance_methods, seed=seed) if importance_methods
           else pd.DataFrame(columns=importance.COLUMNS))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from . import manifest

    before = manifest.clear(out_dir)  # only the files the last report wrote (analysis/manifest.py)
    sens.table.to_csv(out_dir / "sensitivity.csv", index=False)
    imp.to_csv(out_dir / "importance.csv", index=False)
    sens.categorical.to_csv(out_dir / "categorical.csv", index=False)
    figures = write_figures(prep, sens.table, out_dir, behavioural_quantile=behavioural_quantile, scales=scales)
    lines = [f"# {title}", *_summary_section(table, prep, sens, study, focus), *_detail_section(table, prep, sens),
             *_figure_section(figures),
             *_table_section(prep, sens, imp), *_rule_section(prep, sens, imp)]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    manifest.record(out_dir, before)
    return path


def _power_groups(sens: Sensitivity, outcomes: list[str]) -> list[tuple[list[str], int, int]]:
    """The outcomes grouped by their (n, k): usually one group."""
    groups: dict[tuple[int, int], list[str]] = {}
    for o in outcomes:
        rows = sens.table.loc[sens.table["outcome"] == o]
        k = len(rows) + int((sens.categorical["outcome"] == o).sum() if len(sens.categorical) else 0)
        groups.setdefault((int(rows["n"].iloc[0]), k), []).append(o)
    return [(os_, n, k) for (n, k), os_ in groups.items()]


def _summary_section(table: pd.DataFrame, prep: Prepared, sens: Sensitivity, study: str | None,
                     focus: str | None) -> list[str]:
    """The first screen: the summary table and its legend, one sentence per outcome, the trials, what
    this n can see, the ranking's stability, the one recommendation, then the notes."""
    r = sens.rules
    stabs = {o: stability.ranking_stability(table, prep.params, o, behavioural_quantile=r.behavioural_quantile,
                                            control=r.control, level=r.level, seed=r.seed, n_permutations=499)
             for o in prep.outcomes}
    rec = summary.recommend(sens, focus)
    lines = ["", "## Summary", "", markdown_table(summary.summary_table(sens, prep.outcomes)), "",
             summary.legend(r.level, r.control), "",
             *[f"- {summary.outcome_sentence(sens, o)}" for o in prep.outcomes], ""]
    note = budget_note(table)  # next to the ranking: a budget parameter's "effect" is a cost
    if note:
        lines += [f"**The budget varies.** {note}", ""]
    if "n_nodes" in prep.outcomes:
        lines += [NODES_LINE, ""]
    lines += ["Trials: " + _trial_counts(prep), "", *power_lines(_power_groups(sens, prep.outcomes), r), "",
              *stability_lines(stabs), "",
              summary.recommendation_text(rec, study, replicated=any(s is not None for s in stabs.values())), ""]
    notes = [n for n in sens.notes if not n.startswith("used COMPLETE")]  # in "Trials:"
    if {"nmi", "purity"} & set(prep.outcomes):
        notes.append(CLUSTER_BIAS)
    if notes:
        lines += ["Notes:", *[f"- {n}" for n in notes], ""]
    return lines


def _detail_section(table: pd.DataFrame, prep: Prepared, sens: Sensitivity) -> list[str]:
    """Each outcome's detail (:func:`answer`), then how sure, once."""
    lines = ["## Detail per outcome", ""]
    for o in prep.outcomes:
        lines += answer(sens, table, o)
    return lines + [*sure_lines(sens, prep.outcomes, len(prep.params) + len(prep.categorical)), ""]


def _figure_section(figures: dict[str, list[tuple[Path, str]]]) -> list[str]:
    """The Figures section: each figure of :func:`write_figures` with its caption."""
    lines = ["## Figures", ""]
    for o, drawn in figures.items():
        for path, caption in drawn:
            lines += [f"![{o}: {caption}]({path.name})", "", f"*{o}: {caption}.*", ""]
    return lines


def _table_section(prep: Prepared, sens: Sensitivity, imp: pd.DataFrame) -> list[str]:
    """The Tables section: per outcome its sensitivity table and the importance cross-checks (if run)."""
    lines = ["## Tables", "", "Full tables: `sensitivity.csv`, `importance.csv`, `categorical.csv`.", ""]
    for o in prep.outcomes:
        rows = sens.table.loc[sens.table["outcome"] == o]
        lines += [f"### Sensitivity of {o}", "",
                  fit_text(rows.iloc[0], o, len(rows)) + ".", "",
                  markdown_table(rows[REPORT_COLUMNS]), ""]
        part = imp.loc[imp["outcome"] == o]
        if len(part):
            wide = part.pivot(index="parameter", columns="method", values="value")
            wide = wide.reindex(index=rows["parameter"], columns=[m for m in importance.METHODS if m in wide])
            lines += [f"### Importance cross-checks for {o}", "", markdown_table(wide.reset_index()), ""]
            failed = part.loc[part["note"].astype(str) != "", ["method", "note"]].drop_duplicates()
            lines += [f"- {r.method}: {r.note}" for r in failed.itertuples()] + ([""] if len(failed) else [])
    return lines


def _rule_section(prep: Prepared, sens: Sensitivity, imp: pd.DataFrame) -> list[str]:
    """The Rules section: which trials, the behavioural split, the measures, significance, the cross-checks."""
    q, seed = sens.rules.behavioural_quantile, sens.rules.seed
    return ["## Rules", "",
            "- Only COMPLETE trials are used; a missing or non-finite outcome drops the trial for that "
            "outcome; constant and non-numeric parameters are left out.",
            f"- Behavioural trials: outcome at or above its {q:g} quantile "
            f"(the top {100 * (1 - q):.0f}%; higher is better).",
            "- PRCC/PCC: correlation of the residuals of the parameter and the outcome regressed on the "
            "other parameters (ranks for PRCC); SRC/SRRC: coefficients of the OLS fit on standardized "
            "values (ranks). KS: two-sample Kolmogorov-Smirnov test behavioural vs not; KW: "
            "Kruskal-Wallis across equal-probability classes of the parameter (catches non-monotone effects).",
            f"- Significant: {_rule_text(sens.rules, len(prep.params) + len(prep.categorical), 'the outcome')} "
            "Direction: the sign of the monotone coefficient (Spearman or PRCC) when a monotone test carries "
            "the evidence, else non-monotone. Power: Spearman's Fisher z at the adjustment's first step.",
            "- Importance cross-checks (Optuna fANOVA, MDI, PED-ANOVA; SALib RBD-FAST, delta, PAWN) use "
            "the same trials; they rank, they do not test. "
            + (f"Seed of their random forests and bootstraps: {seed} (`--seed`; also the `seed` column "
               "of importance.csv)." if len(imp) else "Not run for this report."), ""]
