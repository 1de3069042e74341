"""The sensitivity report's Markdown: a pure function of :class:`analysis.report_data.ReportData`.

:func:`render_report` returns the text of ``report.md``, in this order:

* **the summary first** (:mod:`analysis.summary`: one table of every parameter
  against every outcome -- direction, strength, marks of the adjusted p-values
  (:mod:`analysis.screening`) --, one sentence per outcome, the trials, what
  this n can see, whether replicates rank alike (:mod:`analysis.stability`)
  and the study's one ``extend`` recommendation, then the notes);
* each outcome's detail written once (:func:`answer`: the evidence, the signals
  to confirm, the best range and trial), then how sure (the rule; how far R²
  and rank R² let the regression measures be trusted);
* the figures with their captions, the tables, the rules.

Numbers are written by :mod:`analysis.formatting` and tables by
:func:`analysis.markdown.markdown_table`. Nothing here reads or writes a file.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import summary
from .formatting import p_text, value_text
from .importance import METHODS
from .markdown import markdown_table
from .refine import trial_label
from .report_data import OutcomeData, ReportData, power_groups
from .sensitivity import Rules
from .stability import Stability
from .summary import HINT_P

#: Sensitivity columns shown in the report's table.
REPORT_COLUMNS = ["parameter", "rank", "significant", "direction", "p_adj", "p_param", "pearson_r", "spearman_rho",
                  "src", "srrc", "pcc", "prcc", "prcc_p", "ks_stat", "ks_p", "kw_stat", "kw_p",
                  "behavioural_low", "behavioural_high"]

#: The note every report with NMI or Purity carries (SPEC 4): they reward a bigger map.
CLUSTER_BIAS = ("NMI and Purity rise with the number of clusters (Purity is 1 with one cluster per sample), so "
                "a parameter that grows the map (n_nodes) can look good on them; AMI and ARI are adjusted for "
                "chance and do not reward more clusters: read them beside NMI and Purity.")

#: The line the summary adds when the map's size is analysed (SPEC 4; the paper: 60-80 nodes on MNIST).
NODES_LINE = ("n_nodes, the number of nodes (clusters) the map ends with, is analysed beside the scores: its "
              "row says what drives the map's size (the paper reports 60-80 nodes on MNIST); its "
              "behavioural trials are the largest maps.")


def render_report(data: ReportData) -> str:
    """The text of report.md (module docstring)."""
    lines = [f"# {data.title}", *summary_section(data), *detail_section(data), *figure_section(data),
             *table_section(data), *rule_section(data)]
    return "\n".join(lines)


# ----- summary ---------------------------------------------------------------------------------

def summary_section(data: ReportData) -> list[str]:
    """The first screen: the summary table and its legend, one sentence per outcome, the trials, what
    this n can see, the ranking's stability, the one recommendation, then the notes."""
    sens, outcomes = data.sens, list(data.outcomes)
    lines = ["", "## Summary", "", markdown_table(summary.summary_table(sens, outcomes)), "",
             summary.legend(sens.rules.level, sens.rules.control), "",
             *[f"- {summary.outcome_sentence(sens, o)}" for o in outcomes], ""]
    if data.budget_note:  # next to the ranking: a budget parameter's "effect" is a cost
        lines += [f"**The budget varies.** {data.budget_note}", ""]
    if "n_nodes" in outcomes:
        lines += [NODES_LINE, ""]
    lines += ["Trials: " + trial_counts(sens.counts), "", *power_lines(power_groups(data)), "",
              *stability_lines({o: d.stability for o, d in data.outcomes.items()}), "",
              summary.recommendation_text(data.recommendation, data.study, replicated=data.replicated), ""]
    notes = [n for n in sens.notes if not n.startswith("used COMPLETE")]  # in "Trials:"
    if {"nmi", "purity"} & set(outcomes):
        notes.append(CLUSTER_BIAS)
    if notes:
        lines += ["Notes:", *[f"- {n}" for n in notes], ""]
    return lines


def trial_counts(c: dict) -> str:
    """The trials in the table, COMPLETE, not used by state, dropped for a missing outcome (``c``: the
    cleaning's counts, :attr:`analysis.table.Prepared.counts`)."""
    others = {k: v for k, v in c["states"].items() if k != "COMPLETE"}
    text = f"{c['total']} trials in the table, {c['complete']} COMPLETE"
    if others:
        text += " (not used: " + ", ".join(f"{v} {k}" for k, v in sorted(others.items())) + ")"
    nan = {o: k for o, k in c["nan_outcomes"].items() if k}
    if nan:
        text += "; dropped for a missing outcome: " + ", ".join(f"{k} ({o})" for o, k in nan.items())
    return text + "."


def power_lines(groups: list[tuple[list[str], int, int, float]]) -> list[str]:
    """What the study's n can see, once: ``groups`` of (outcomes, n, k, detectable |rho|) sharing one n and k
    (:func:`analysis.report_data.power_groups`)."""
    lines = []
    for outcomes, n, k, rho in groups:
        which = "" if len(groups) == 1 else f" ({', '.join(outcomes)})"
        if np.isnan(rho):
            lines.append(f"**Power{which}.** {n} trials are too few to detect any effect.")
            continue
        lines.append(f"**Power{which}.** With n = {n} trials and {k} parameters, the rule finds an effect with "
                     f"80% probability when its |rank correlation| is at least {rho:.2f} (it explains about "
                     f"{rho ** 2:.0%} of the variance); weaker effects go unseen more than one time in five.")
    return lines


def stability_lines(stabs: dict[str, Stability | None]) -> list[str]:
    """Whether the replicates rank the parameters alike, once for every outcome (``stabs``: {outcome:
    analysis.stability.Stability or None}); nothing with one replicate (the recommendation says why)."""
    measured = {o: s for o, s in stabs.items() if s is not None}
    if not measured:
        return ["**Ranking stability** is not measured: the study has one replicate."]
    m = max(len(s.rankings) for s in measured.values())
    parts = [f"{o} **{'stable' if s.stable else 'not stable'}** (TDCC {s.tdcc:.2f}, p {p_text(s.p)})"
             for o, s in measured.items()]
    return [f"**Ranking stability** over {m} replicates (Iman & Conover 1987; not stable: trust the order "
            f"only where the evidence is strong): " + "; ".join(parts) + "."]


# ----- detail ----------------------------------------------------------------------------------

def detail_section(data: ReportData) -> list[str]:
    """Each outcome's detail (:func:`answer`), then how sure, once."""
    lines = ["## Detail per outcome", ""]
    for d in data.outcomes.values():
        lines += answer(d, data.sens.rules)
    return lines + [*sure_lines(data), ""]


def answer(d: OutcomeData, rules: Rules) -> list[str]:
    """The detail of one outcome, as Markdown lines: what matters (with its evidence), the signals to
    confirm, what has no detectable effect, the best range and the best trial."""
    return [f"### {d.outcome}", "", *matter_lines(d), *signal_lines(d), *best_lines(d, rules)]


def evidence(s: pd.Series) -> str:
    """Why a parameter counts: its coefficients and tests, the parameter's p and the adjusted p."""
    parts = [f"Spearman {s['spearman_rho']:+.2f}"]
    if not np.isnan(s["prcc"]):
        parts.append(f"PRCC {s['prcc']:+.2f} (p {p_text(s['prcc_p'])})")
    parts.append(f"KS {s['ks_stat']:.2f} (p {p_text(s['ks_p'])})")
    parts.append(f"KW p {p_text(s['kw_p'])}")
    return ", ".join(parts) + f"; parameter p {p_text(s['p_param'])}, adjusted p {p_text(s['p_adj'])}"


def choice_evidence(c: pd.Series) -> str:
    """The categorical tests of one parameter (analysis.categorical)."""
    return (f"KW p {p_text(c['kw_p'])}, behavioural share p {p_text(c['share_p'])}; "
            f"parameter p {p_text(c['p_param'])}, adjusted p {p_text(c['p_adj'])}")


def tendency(s: pd.Series, outcome: str) -> str:
    """The sign of the monotone association in words (PRCC, else Spearman)."""
    r = s["prcc"] if not np.isnan(s["prcc"]) else s["spearman_rho"]
    if np.isnan(r) or abs(r) < 0.1:
        return "no monotone trend (a non-monotone effect: see the KS/KW tests and the figures)"
    return f"higher values tend to {'raise' if r > 0 else 'lower'} {outcome}"


def matter_lines(d: OutcomeData) -> list[str]:
    """The parameters that matter, in order of evidence; else why none does (too few trials, or none seen)."""
    rows, cats, outcome = d.rows, d.cats, d.outcome
    sig, sig_cats = rows.loc[rows["significant"]], cats.loc[cats["significant"].astype(bool)]
    if len(sig) or len(sig_cats):
        return [f"**Parameters that matter** (n = {d.n} trials, in order of evidence):",
                *[f"- **{s['parameter']}**: {s['direction']}; {evidence(s)}" for _, s in sig.iterrows()],
                *[f"- **{c['parameter']}** (categorical): best choice **{c['best_choice']}** by median "
                  f"{outcome}; {c['groups']}; {choice_evidence(c)}" for _, c in sig_cats.iterrows()]]
    if d.n < len(rows) + 2:
        return [f"**Too few trials** to answer for {outcome}: n = {d.n} for {len(rows)} numeric parameters; "
                f"the partial measures (PRCC) need at least {len(rows) + 2}, and an effect explaining "
                f"a quarter of the variance (|rho| 0.5) needs about {d.needed} trials."]
    return [f"**No parameter has a detectable effect** on {outcome} at this size (n = {d.n} trials): "
            f"an effect weaker than |rho| {d.detectable:.2f} goes unseen more than one time in five."]


def hints(rows: pd.DataFrame) -> pd.DataFrame:
    """The (at most 3) strongest non-significant numeric parameters with parameter p < HINT_P."""
    non = rows.loc[~rows["significant"]]
    return non.loc[non["p_param"] < HINT_P].head(3)


def signal_lines(d: OutcomeData) -> list[str]:
    """The strongest signals that are not significant after the adjustment, then the parameters without
    a detectable effect (numeric in one sentence, categorical one each)."""
    rows, outcome = d.rows, d.outcome
    strong, lines = hints(rows), []
    idle_cats = d.cats.loc[~d.cats["significant"].astype(bool)]
    cat_hints = idle_cats.loc[idle_cats["p_param"].astype(float) < HINT_P]
    if len(strong) or len(cat_hints):
        lines += ["", f"**Strongest signals, not significant after the adjustment** (parameter p < {HINT_P:g}; "
                  f"confirm them with the replicate the summary recommends):"]
        lines += [f"- {s['parameter']}: {tendency(s, outcome)}; {evidence(s)}" for _, s in strong.iterrows()]
        lines += [f"- {c['parameter']} (categorical): {c['best_choice']} has the highest median {outcome}; "
                  f"{c['groups']}; {choice_evidence(c)}" for _, c in cat_hints.iterrows()]
    rest = rows.loc[~rows["significant"]].drop(strong.index)
    if len(rest):
        lines.append("")
        lines.append("No detectable effect: " + ", ".join(
            f"{s['parameter']} (adjusted p {p_text(s['p_adj'])})" for _, s in rest.iterrows()) + ".")
    for _, c in idle_cats.drop(cat_hints.index).iterrows():
        lines += ["", f"{c['parameter']} (categorical): no detectable difference between its choices "
                      f"({c['groups']}); {choice_evidence(c)}."]
    return lines


def range_text(s: pd.Series) -> str:
    """A parameter's behavioural range, or its one value where a single trial (or value) makes it."""
    lo, hi = s["behavioural_low"], s["behavioural_high"]
    if int(s["n_behavioural"]) < 2 or lo == hi:
        return f"{s['parameter']} = {lo:.6g} (one value: not a range)"
    return f"{s['parameter']} in [{lo:.6g}, {hi:.6g}]"


def best_lines(d: OutcomeData, rules: Rules) -> list[str]:
    """The behavioural trials' ranges (of the significant parameters, else of all) and the best trial."""
    rows, outcome, best = d.rows, d.outcome, d.best
    first, sig = rows.iloc[0], rows.loc[rows["significant"]]
    top = 100 * (1 - rules.behavioural_quantile)
    ranges = ", ".join(range_text(s) for _, s in (sig if len(sig) else rows).iterrows())
    lines = ["", f"**Best range.** The behavioural trials ({outcome} >= {first['threshold']:.4g}, "
             f"the top {top:.0f}%, {int(first['n_behavioural'])} trials) have {ranges}."]
    values = ", ".join(f"{p}={value_text(best[p])}" for p in [*rows["parameter"], *d.cats["parameter"]]
                       if p in best.index)
    return lines + [f"Best trial: {trial_label(best)}, {outcome} = {float(best[outcome]):.4g} at {values}.", ""]


def fit_text(d: OutcomeData) -> str:
    """How far the regression measures describe the outcome, as one clause."""
    if d.fit == "not computed":
        return (f"{d.outcome}: not computed (n = {d.n} trials for {len(d.rows)} numeric parameters; the "
                f"regressions need {len(d.rows) + 2}): rely on KS/KW and the figures")
    first = d.rows.iloc[0]
    tail = ": rely on KS/KW and the figures" if d.fit == "poor" else ""
    return f"{d.outcome}: R² {p_text(first['r2'])}, rank R² {p_text(first['r2_rank'])}, fit {d.fit}{tail}"


def sure_lines(data: ReportData) -> list[str]:
    """How sure, once for the study: the significance rule, then how far the regressions fit each outcome."""
    fits = [fit_text(d) for d in data.outcomes.values()]
    return [f"**How sure.** {rule_text(data.sens.rules, data.n_params, 'the outcome')} Regression measures (SRC, "
            f"SRRC, PCC, PRCC) describe an outcome only as far as the regressions explain it: "
            + "; ".join(fits) + "."]


def rule_text(rules: Rules, k: int, outcome: str) -> str:
    """The significance rule in one or two sentences (analysis.screening)."""
    how = ("Westfall-Young step-down minP, family-wise error rate" if rules.control == "fwer"
           else "Benjamini-Hochberg, false discovery rate")
    return (f"Each parameter has one p-value: the smallest of its Spearman, PRCC and ends-vs-middle p-values "
            f"(Kruskal-Wallis and behavioural share for a categorical one), calibrated over "
            f"{rules.n_permutations} permutations of {outcome} (seed {rules.seed}); they are adjusted "
            f"across the {k} parameters ({how}); significant = adjusted p < {rules.level:g}.")


# ----- figures, tables, rules ------------------------------------------------------------------

def figure_section(data: ReportData) -> list[str]:
    """The Figures section: each outcome's figures (:attr:`OutcomeData.figures`) with their captions."""
    lines = ["## Figures", ""]
    for o, d in data.outcomes.items():
        for f in d.figures:
            lines += [f"![{o}: {f.caption}]({f.file})", "", f"*{o}: {f.caption}.*", ""]
    return lines


def table_section(data: ReportData) -> list[str]:
    """The Tables section: per outcome its sensitivity table and the importance cross-checks (if run)."""
    lines = ["## Tables", "", "Full tables: `sensitivity.csv`, `importance.csv`, `categorical.csv`.", ""]
    for o, d in data.outcomes.items():
        lines += [f"### Sensitivity of {o}", "", fit_text(d) + ".", "", markdown_table(d.rows[REPORT_COLUMNS]), ""]
        part = d.importance
        if len(part):
            wide = part.pivot(index="parameter", columns="method", values="value")
            wide = wide.reindex(index=d.rows["parameter"], columns=[m for m in METHODS if m in wide])
            lines += [f"### Importance cross-checks for {o}", "", markdown_table(wide.reset_index()), ""]
            failed = part.loc[part["note"].astype(str) != "", ["method", "note"]].drop_duplicates()
            lines += [f"- {r.method}: {r.note}" for r in failed.itertuples()] + ([""] if len(failed) else [])
    return lines


def rule_section(data: ReportData) -> list[str]:
    """The Rules section: which trials, the behavioural split, the measures, significance, the cross-checks."""
    rules = data.sens.rules
    q, seed = rules.behavioural_quantile, rules.seed
    return ["## Rules", "",
            "- Only COMPLETE trials are used; a missing or non-finite outcome drops the trial for that "
            "outcome; constant and non-numeric parameters are left out.",
            f"- Behavioural trials: outcome at or above its {q:g} quantile "
            f"(the top {100 * (1 - q):.0f}%; higher is better).",
            "- PRCC/PCC: correlation of the residuals of the parameter and the outcome regressed on the "
            "other parameters (ranks for PRCC); SRC/SRRC: coefficients of the OLS fit on standardized "
            "values (ranks). KS: two-sample Kolmogorov-Smirnov test behavioural vs not; KW: "
            "Kruskal-Wallis across equal-probability classes of the parameter (catches non-monotone effects).",
            f"- Significant: {rule_text(rules, data.n_params, 'the outcome')} "
            "Direction: the sign of the monotone coefficient (Spearman or PRCC) when a monotone test carries "
            "the evidence, else non-monotone. Power: Spearman's Fisher z at the adjustment's first step.",
            "- Importance cross-checks (Optuna fANOVA, MDI, PED-ANOVA; SALib RBD-FAST, delta, PAWN) use "
            "the same trials; they rank, they do not test. "
            + (f"Seed of their random forests and bootstraps: {seed} (`--seed`; also the `seed` column "
               "of importance.csv)." if len(data.importance) else "Not run for this report."), ""]
