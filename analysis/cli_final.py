"""``dcsomrl-study final``: its parser beside its handler.

    final   --space FILE --dataset NAME [--seeds 10] [--seed 0] [--epochs E] [--k 64] [--results DIR]

``final`` runs a study itself (fixed values over seeds, through the study runner)
and writes ``<results>/<study>/final.csv``, ``final_runs.csv`` and ``final.md``
(:mod:`analysis.final`); ``--out`` is a deprecated alias of ``--results``.

Registering the parser imports nothing heavy (``dcsomrl-study --help`` stays fast): the handler imports
the study runner and the analysis when it runs.
"""
from __future__ import annotations

import argparse

from studies.arguments import add_data_dir, add_devices, add_model, add_results, add_save_models, add_storage, \
    study_name

from .cli_options import add_ablation, add_baselines


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``final``."""
    p = sub.add_parser("final", help="fixed values over N seeds through the runner, beside k-means and "
                                     "the paper's Table 1",
                       description="Train one setting (a space of fixed values, as `best` writes) once per "
                                   "seed through the study runner (resumable like lhs), then report mean ± "
                                   "std of Purity, NMI, AMI, ARI and nodes (with epochs and seconds per run) "
                                   "beside k-means (on the raw inputs and on the "
                                   "trained encoders' latent codes) and the paper's Table 1 rows, as "
                                   "<results>/<study>/final.csv and final.md.")
    p.add_argument("--space", required=True,
                   help="space file of fixed values (from `best`), or a shipped name such as best")
    p.add_argument("--dataset", required=True, help="digits, mnist, fashion-mnist, or a .npz/.csv file")
    p.add_argument("--seeds", type=int, default=10, help="number of seeds (runs)")
    p.add_argument("--seed", type=int, default=0, help="first seed; the runs use seed, seed+1, ...")
    p.add_argument("--epochs", type=int, default=None,
                   help="fix the training epochs of every run, baselines included (default: each space's)")
    p.add_argument("--k", type=int, default=64, help="clusters of the k-means baselines, as the paper")
    add_baselines(p)
    add_ablation(p)
    add_devices(p)
    add_storage(p)
    p.add_argument("--study", type=study_name, default=None,
                   help="study name (default: final-<dataset>[-<model>]-<space>-n<N>-s<seed>[-e<E>]; a space "
                        "file adds a short hash of its values, e.g. final-digits-best-n10-s0, "
                        "final-digits-d2-best-3f9a1c-n10-s0)")
    add_data_dir(p)
    add_save_models(p)
    add_results(p, "results folder: the study and final.csv/final.md go to <results>/<study>/")
    add_model(p)
    p.set_defaults(func=final_command)


def final_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study final``: run the seeds (analysis.final.final_study), print the table."""
    from dcsomrl.params import check_run

    from . import final as F
    from .final_report import display_table
    from .markdown import markdown_table

    check_run("k", args.k)
    result = F.final_study(args.space, args.dataset, devices=args.devices, workers_per_device=args.workers_per_device,
                           seeds=args.seeds, first_seed=args.seed, epochs=args.epochs, k=args.k,
                           storage=args.storage, results=args.results, data_dir=args.data_dir, study=args.study,
                           model=args.model, save_models=args.save_models, baselines=args.baselines,
                           ablation=args.ablation == "ae", ablation_seeds=args.ablation_seeds)
    if result.md_path is None:
        return result.exit_code
    print(markdown_table(display_table(result.table)))
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {result.csv_path} and {result.md_path}")
    return result.exit_code
