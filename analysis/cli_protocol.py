"""``dcsomrl-study protocol``: its parser beside its handler.

    protocol --dataset NAME [--name NAME] [--initial-n 30] [--adjusted-n 10] [--seeds 10] [--results DIR]

runs or resumes the paper's whole protocol (appendix A.1, :mod:`analysis.protocol`),
each stage an ordinary study ``<name>-<stage>``, then writes
``<results>/<name>/protocol.md`` (:mod:`analysis.protocol_report`).

Registering the parser imports nothing heavy (``dcsomrl-study --help`` stays fast): the handler imports
the study runner and the analysis when it runs.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from studies.arguments import add_data_dir, add_devices, add_model, add_results, add_save_models, add_storage, \
    study_name

from .cli_options import add_ablation, add_baselines, add_incumbent, add_rules, rules_of


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``protocol``."""
    p = sub.add_parser("protocol", help="the paper's whole protocol (appendix A.1) as one resumable command",
                       description="Initial LHS -> analyze -> refine -> adjusted LHS -> analyze -> robust best "
                                   "(the top candidates re-run over new seeds; best mean wins) -> final over N "
                                   "seeds beside k-means, each stage an ordinary study <name>-<stage>; then "
                                   "<results>/<name>/protocol.md. Re-running resumes at the first unfinished "
                                   "stage (analysis/protocol.py).")
    p.add_argument("--dataset", required=True, help="digits, mnist, fashion-mnist, or a .npz/.csv file")
    p.add_argument("--name", type=study_name, default=None,
                   help="protocol name, the prefix of its studies (default: protocol-<dataset>[-<model>], the "
                        "model named when it is not dcsomrl)")
    p.add_argument("--initial-n", type=int, default=30, help="points of the initial LHS")
    p.add_argument("--adjusted-n", type=int, default=10, help="points of the adjusted LHS")
    p.add_argument("--candidates", type=int, default=3, help="top adjusted trials re-run for the robust best")
    p.add_argument("--candidate-seeds", type=int, default=3, help="seeds each candidate is re-run over")
    p.add_argument("--seeds", type=int, default=10, help="seeds of the final stage")
    p.add_argument("--seed", type=int, default=0, help="design seed (stages use seed, seed+1, seed+2; final "
                                                       "seeds start here)")
    _budget_options(p)
    add_incumbent(p)
    add_ablation(p)
    p.add_argument("--outcome", default="nmi", help="outcome refine and the best optimize (nmi, purity, ami, ari)")
    p.add_argument("--k", type=int, default=64, help="clusters of the k-means baselines (besides k = nodes)")
    p.add_argument("--no-importance", action="store_true", help="skip the Optuna/SALib cross-checks of the reports")
    add_baselines(p)
    add_rules(p)
    add_devices(p)
    add_storage(p)
    add_data_dir(p)
    add_save_models(p)
    add_results(p, "results folder: every stage's study and the report go under it")
    add_model(p)
    p.set_defaults(func=protocol_command)


def _budget_options(p: argparse.ArgumentParser) -> None:
    """The budget of each stage: the screening's epochs, the final budget, the fidelity stage's points."""
    p.add_argument("--epochs", type=int, default=None, help="training epochs of the screening (initial) stage "
                                                             "(default: the initial space varies them)")
    p.add_argument("--final-epochs", type=int, default=None,
                   help="the budget's epochs, fixed from the adjusted stage on (default: the data set's, 30 as "
                        "the paper)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="the budget's batch size, fixed from the adjusted stage on (default: the data set's, "
                        "256 on MNIST and Fashion-MNIST as the paper)")
    p.add_argument("--fidelity-n", type=int, default=8,
                   help="screening points re-run at the final budget when the screening ran at another "
                        "(Spearman between the budgets in protocol.md); 0: none (default 8)")


def protocol_command(args: argparse.Namespace) -> int:
    """``dcsomrl-study protocol``: run or resume every stage (analysis.protocol), then write protocol.md."""
    import sys

    from dcsomrl.data import canonical_name
    from studies import launch
    from studies.orchestrate import check_study_name
    from studies.storage import quiet_optuna

    from . import final as F
    from .protocol import Protocol, StageFailed, default_name, run_protocol
    from .protocol_report import write_protocol_report

    quiet_optuna()
    rules = rules_of(args)
    dataset = canonical_name(args.dataset)
    name = check_study_name(args.name or default_name(dataset, args.model))
    p = Protocol(dataset, name, args.results, args.storage, args.initial_n, args.adjusted_n, args.seeds, args.seed,
                 args.epochs, args.final_epochs, args.candidates, args.candidate_seeds, args.outcome, args.k, rules,
                 args.data_dir, args.model, not args.no_importance, args.save_models,
                 F.check_baselines(args.baselines), batch_size=args.batch_size, incumbent=args.incumbent,
                 fidelity_n=args.fidelity_n, ablation=args.ablation == "ae",
                 ablation_seeds=args.ablation_seeds).check()
    slots = launch.plan_slots(args.devices, args.workers_per_device)
    try:
        run = run_protocol(p, slots=slots, say=lambda line: print(line, flush=True))
    except StageFailed as exc:
        print(f"dcsomrl-study: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    path = write_protocol_report(run, Path(args.results) / name)
    print(f"wrote {path}")
    return 0
