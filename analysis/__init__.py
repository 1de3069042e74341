"""The analysis layer: what a study's trials say about its parameters (SPEC section 7).

Everything works on a plain table, one row per trial (parameter columns,
outcome columns such as ``nmi``/``purity``/``n_nodes``, optional ``state`` and
metadata), so it can be tested on synthetic designs with known answers.

=================  ==================================================================
``errors``         ``AnalysisError`` (a ValueError; one-line message)
``table``          ``prepare``: COMPLETE trials, usable columns; ``varying``
``sensitivity``    ``analyze``: Pearson/Spearman, SRC/SRRC + R², PCC/PRCC, MCF (KS), KW
``screening``      the significance rule: permutation min-p per parameter, step-down minP / FDR
``stability``      TDCC of the parameter rankings of LHS replicates (Iman & Conover 1987)
``cdf``            ``ecdf`` with the DKW band, ``conditional_cdfs`` (behavioural vs not)
``importance``     ``analyze``: Optuna fANOVA/MDI/PED-ANOVA, SALib RBD-FAST/delta/PAWN
``plots``          data functions + PNG renderers (OLS scatter = paper Fig. 6, CDFs, bars)
``formatting``     the number formats of every page (p-values, table cells, parameter values, mean ± std, epochs, the budget)
``markdown``       ``markdown_table``
``categorical``    a categorical parameter's choices compared (Kruskal-Wallis, behavioural share)
``summary``        the report's first screen as data: the summary table, sentences, one recommendation
``budget``         the budget (batch_size, epochs) in the analysis: the report's note, budget_differs
``degenerate``     runs that collapsed (one node, too few clusters) classified and counted
``manifest``       the files a report wrote, so a second report removes only those
``report_data``    the sensitivity report as data: ``report_data`` (seeded) -> ``ReportData``
``report_text``    ``render_report``: ReportData -> report.md's Markdown (the summary first)
``report``         ``write_report``: report.md, CSV tables, figures on disk
``refine``         ``refine`` (narrowed space), ``best`` (fixed space)
``seeds``          the final round's seed design: one space's fixed values over N seeds
``kmeans``         the k-means rows of the final table (raw inputs, latent codes, k = nodes), their cache
``paper``          the paper's Table 1 as data
``final_table``    ``tabulate``: final.csv and final_runs.csv as data (``FinalTable``)
``final_report``   final.md from a FinalTable: the table for reading, its prose, the files
``final``          fixed values over N seeds beside k-means, the ablation and the paper's Table 1: the studies
``verdicts``       the one-line verdicts of final.md, protocol.md and each protocol stage
``candidates``     the robust best: the top trials and the incumbent re-run over common seeds
``fidelity``       does the screening budget rank points as the final budget does (Spearman)
``stages``         what every protocol stage shares (Stage, StageFailed, run_points) and its screening steps
``protocol``       appendix A.1 as one resumable chain of studies (``protocol_report``: protocol.md)
``testfunctions``  known-answer LHS designs and outcomes
``commands``       the static registry of the ``analyze``, ``refine``, ``best``, ``final``, ``protocol`` subcommands
``cli_options``    the options and inputs those subcommands share (``--study``/``--table``, the rules, ...)
``cli_analyze``    ``analyze``: its parser beside its handler
``cli_spaces``     ``refine`` and ``best``: their parsers beside their handlers
``cli_final``      ``final``: its parser beside its handler
``cli_protocol``   ``protocol``: its parser beside its handler
``inspect``        qualitative figures of one trained model (the ``inspect`` subcommand)
=================  ==================================================================

Importing the package imports none of them (no side effects, fast CLI start).
"""
