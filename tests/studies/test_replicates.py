"""Replicates (Iman's replicated LHS): ``extend`` adds an independent LHS of K points to a study."""
import pandas as pd
import pytest

from studies import export
from studies import storage as st
from studies import study as sy
from dcsomrl_study.cli import main
from studies.errors import StudyError
from studies.design import sample
from tests.studies.helpers import make_study


def test_extend_adds_a_resumable_replicate_that_every_trial_records(tmp_path, capsys):
    study, url = make_study(tmp_path, "s", n=3)
    argv = ["extend", "--study", "s", "--n", "4", "--devices", "cpu", "--results", str(tmp_path)]
    assert main(argv) == 0
    study = sy.load(st.open_storage(url, create=False), "s")
    assert sy.replicates(study) == [{"replicate": 1, "seed": 1, "n": 4, "first_index": 3}]
    assert sy.total_points(study) == 7 and sy.counts(study)["complete"] == 7
    table = export.study_table(study)
    assert table.groupby("replicate")["design_index"].apply(sorted).to_dict() == {0: [0, 1, 2], 1: [3, 4, 5, 6]}
    assert table["seed"].nunique() == 7                        # every point its own training seed
    space = sy.design_space(study.user_attrs["design"])
    drawn = sample(space, 4, 1).reset_index(drop=True)
    got = table.loc[table["replicate"] == 1].sort_values("design_index").reset_index(drop=True)
    pd.testing.assert_frame_equal(got[space.varying].reset_index(drop=True), drawn[space.varying],
                                  check_dtype=False)            # the replicate is the LHS of its seed
    # the same command again, the replicate complete: a new replicate with the next seed
    assert main(argv) == 0
    again = sy.load(st.open_storage(url, create=False), "s")
    assert [r["seed"] for r in sy.replicates(again)] == [1, 2] and sy.total_points(again) == 11
    # an interrupted extend (enqueued, never drained) is resumed by the same command, not duplicated
    sy.add_replicate(again, sample(space, 2, 3).to_dict("records"), seed=3)
    assert main(["extend", "--study", "s", "--n", "2", "--devices", "cpu", "--results", str(tmp_path)]) == 0
    again = sy.load(st.open_storage(url, create=False), "s")
    assert [r["seed"] for r in sy.replicates(again)] == [1, 2, 3] and sy.counts(again)["complete"] == 13
    assert len(again.get_trials()) == 13
    assert main(["status", "--study", "s", "--results", str(tmp_path)]) == 0
    assert "replicate 3: 2 points, design seed 3 (points 11..12)" in capsys.readouterr().out


def test_extend_refuses_what_would_mix_replicates(tmp_path, capsys):
    study, url = make_study(tmp_path, "s", n=2)
    with pytest.raises(StudyError, match="the study's own design seed"):
        sy.add_replicate(study, [{}], seed=0)
    space = sy.design_space(study.user_attrs["design"])
    sy.add_replicate(study, sample(space, 2, 5).to_dict("records"), seed=5)
    with pytest.raises(StudyError, match="has seed 5 with 2 points, not 3"):
        sy.add_replicate(study, sample(space, 3, 5).to_dict("records"), seed=5)
    assert main(["extend", "--study", "nope", "--n", "2", "--results", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err
