"""``dcsomrl-study inspect RUN_DIR``: its parser beside its handler.

Registering imports neither torch nor numpy (``dcsomrl-study --help`` stays fast): the handler
imports :mod:`analysis.inspect.report` when it runs.
"""
from __future__ import annotations

__all__ = ["add_commands", "cmd_inspect"]


def add_commands(subparsers) -> None:
    """Register ``inspect`` on the ``dcsomrl-study`` subcommand parser."""
    p = subparsers.add_parser(
        "inspect", help="qualitative figures of one trained model (paper Figs. 2-5, 7, 10)",
        description="Write the paper's qualitative figures (relevance histogram, perturbation "
                    "effect, latent traversal, t-SNE with topology, nearest samples, clusters vs "
                    "classes, validation curve) for one run directory, and inspect.md reading them.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a trial's run directory (from train, lhs or final)")
    p.add_argument("--out", help="output folder (default: RUN_DIR/inspect)")
    p.add_argument("--data-dir", help="data directory (default: $DCSOMRL_DATA or ~/.cache/dcsomrl)")
    p.add_argument("--tsne-samples", type=int, default=2000,
                   help="test samples embedded by t-SNE, a seeded subsample")
    p.add_argument("--seed", type=int, default=0, help="seed of the subsample, t-SNE and perturbations")
    p.set_defaults(func=cmd_inspect)


def cmd_inspect(args) -> int:
    """``dcsomrl-study inspect``: :func:`analysis.inspect.report.write_inspection`, then its path."""
    from .report import write_inspection  # torch, numpy: not at --help

    page = write_inspection(args.run_dir, args.out, args.data_dir, tsne_samples=args.tsne_samples, seed=args.seed)
    print(f"inspection page: {page}")
    return 0
