"""A search whose every trial fails ends in its sweep summary and one line (issue 26, item 6): Optuna's
sweeper would end it with ``ValueError: No trials are completed yet.`` and Hydra's traceback."""
import csv

import pytest

from tests.conftest import FAST, SMALL_MLP

pytest.importorskip("hydra_plugins.hydra_optuna_sweeper",
                    reason="search=optuna needs hydra-optuna-sweeper: pip install -e '.[optuna]' (in dev)")

TINY = [*FAST, "model=gan_mlp", "data=ring8", *SMALL_MLP, "trainer.max_steps=2"]


@pytest.mark.slow
@pytest.mark.parametrize("why, overrides, first_error", [
    # every job raises at build time
    ("jobs raise", ["data.batch_size=100000"], "data.batch_size=100000 is larger than the 50000 training examples"),
    # every job trains, then has no value to return (metrics=none computes no metrics/...)
    ("no such metric", ["data.batch_size=16", "optimized_metric=metrics/clf_fid5k"],
     "optimized_metric=metrics/clf_fid5k: this run's summary has no such value"),
])
def test_a_search_in_which_every_trial_failed_ends_with_the_summary_and_one_line(cli, tmp_path, why, overrides, first_error):
    result = cli("search=optuna", "hydra.sweeper.n_trials=2", *TINY, *overrides, timeout=300)
    sweep = tmp_path / "multirun"
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("gan-lab: error:")]
    assert errors == [result.stderr.strip().splitlines()[-1]], result.stderr[-3000:]  # one, and the last line
    assert errors[0].startswith(f"gan-lab: error: no trial of the search completed: every job failed, see {sweep / 'sweep_summary.md'}; "
                                f"the first error (job 0): {first_error}"), errors[0]
    with open(sweep / "sweep_summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["job"], r["status"]) for r in rows] == [("0", "failed"), ("1", "failed")]
    assert all(r["error"].startswith(first_error) for r in rows)
    report = (sweep / "sweep_summary.md").read_text()
    assert "2 jobs, 0 done, 2 failed" in report and "## Failed jobs" in report
    assert (sweep / "sweep_settings.csv").is_file()
    assert not (sweep / "optimization_results.yaml").exists()  # Optuna found no best trial
