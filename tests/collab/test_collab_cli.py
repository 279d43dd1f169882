"""`trustgen collab run|sweep` end to end on tiny settings, and their bad-input errors."""

from __future__ import annotations

import json

import pytest

from cli_support import assert_bad_input, trustgen

TINY = ["num_train_timesteps=20", "batch_size=8", "samples_per_client=20", "unet.block_out_channels=[8,16]",
        "unet.norm_num_groups=4", "unet.attention_head_dim=4"]


def test_run_writes_per_client_metrics(tmp_path):
    result = trustgen("collab", "run", "--cut", "0.25", "--steps", "3", "--partition", "dirichlet:0.3", *TINY,
                      "--out", tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    m = json.loads(result.stdout)
    assert (m["engine"], m["cut"], m["T"], m["t_c"], m["handoff"]) == ("in-process", 0.25, 20, 5, "exact")
    assert m["server_weight_norm"] > 0
    assert len(m["clients"]) == 3
    for c in m["clients"]:
        assert c["unet_evals_per_image"] == 5 and c["server_unet_evals_per_image"] == 15
        assert c["bytes_up_per_sample"] == 16 * 16 * 4 + 8 and c["bytes_down_per_image"] == 16 * 16 * 4
        assert 0 <= c["reid_rate"] <= 1 and c["reid_chance"] == pytest.approx(1 / c["train_images"])
        assert c["reid_rate"] == max(c["reid_rate_linear"], c["reid_rate_model"])  # the stronger attack
        for key in ("fd_digits", "fd_floor", "flops_per_image", "recon_mse", "recon_ssim", "membership_auroc"):
            assert isinstance(c[key], int | float), key
    assert {"fd_digits", "fd_digits_floor", "reid_rate"} <= set(m["pooled"])
    for name in ("config.yaml", "metrics.json", "report.md", "samples_client0.png", "log.txt"):
        assert (tmp_path / name).is_file(), name
    _check_saved_models(tmp_path, m, ["client-0", "client-1", "client-2", "server"])


def _check_saved_models(run, metrics, names):
    """The trained denoisers are in the run folder (safetensors, diffusers layout) with a hash-checked card."""
    from trustgen.core.zoo import verify_files
    from trustgen.diffusion.bundle import load_model

    assert sorted(metrics["models"]) == names
    for name, folder in metrics["models"].items():
        card = json.loads((run / folder / "card.json").read_text())
        assert (card["name"], card["seed"]) == (name, 0)
        assert "unet/diffusion_pytorch_model.safetensors" in card["files"]
        verify_files(run / folder, card["files"])
        assert isinstance(card["metrics"]["fd_digits"], float)
    server = load_model(run / metrics["models"]["server"])
    assert server.num_train_timesteps == 20 - metrics["t_c"] and server.scheduler_config["clip_sample"]


def test_sweep_table_and_plot(tmp_path):
    result = trustgen("collab", "sweep", "--cuts", "0,0.5,1", "--steps", "2", *TINY, "--out", tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    m = json.loads(result.stdout)
    assert [(r["cut"], r["handoff"]) for r in m["rows"]] == [(0.0, "exact"), (0.5, "exact"), (0.5, "marginal"),
                                                            (1.0, "exact")]
    assert [r["clients"][0]["unet_evals_per_image"] for r in m["rows"]] == [0, 10, 10, 20]
    assert m["baselines"]["local_only"]["cut"] == 1.0 and m["baselines"]["centralised"]["cut"] == 0.0
    assert m["rows"][-1]["pooled"]["reid_rate"] == 0.0  # local-only: nothing leaves the client
    fedavg = m["baselines"]["fedavg"]
    assert fedavg["steps_per_client"] == 2 * 2  # the same optimisation budget as a CollaFuse client + server
    assert len(fedavg["clients"]) == 3 and isinstance(fedavg["pooled"]["fd_digits"], float)
    assert (tmp_path / "tradeoff.png").is_file() and (tmp_path / "c0.5-marginal" / "metrics.json").is_file()
    assert sorted(m["rows"][0]["models"]) == ["server"]  # c = 0: the clients train nothing
    assert sorted(m["rows"][-1]["models"]) == ["client-0", "client-1", "client-2"]  # c = 1: no server
    assert (tmp_path / "fedavg" / "models" / "global" / "card.json").is_file()


@pytest.mark.parametrize(
    ("args", "words"),
    [(["run", "--cut", "1.5"], ["cut"]), (["run", "--clients", "2000"], ["cannot split"]),
     (["run", "--partition", "dirichlet:x"], ["bad partition"]), (["sweep", "--cuts", "0,2"], ["bad --cuts"]),
     (["run", "--handoff", "sideways"], ["handoff"])],
)
def test_bad_input(tmp_path, args, words):
    assert_bad_input(trustgen("collab", *args, "--out", tmp_path / "r"), *words)
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_privacy_curve_falls_with_the_cut(tmp_path):
    result = trustgen("collab", "privacy", "--cuts", "0,0.3,0.9,1", "--out", tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    reid = [r["reid_rate"] for r in rows]
    assert reid[0] == 1.0 and reid[-1] == 0.0  # raw data at c = 0; nothing sent at c = 1
    assert reid[1] > 0.5 > 0.05 > reid[2]  # low noise is re-identified, high noise almost never
    assert rows[2]["reid_rate"] < 5 * rows[2]["reid_chance"]


def test_sweep_reuses_finished_runs_and_reruns_changed_ones(tmp_path, monkeypatch):
    from trustgen.collab import experiment
    from trustgen.collab.config import CollabSettings
    from trustgen.collab.sweep import finished_run, run_sweep
    from trustgen.core.config import resolve_settings

    settings = resolve_settings(CollabSettings, overrides=[*TINY, "steps=2"])
    first = run_sweep(settings, [0.5], tmp_path, fedavg=False)
    monkeypatch.setattr(experiment, "run_collab", lambda *a, **k: pytest.fail("a finished run was re-run"))
    again = run_sweep(settings, [0.5], tmp_path, fedavg=False)
    assert again["rows"] == json.loads(json.dumps(first["rows"]))
    assert finished_run(tmp_path / "c0.5-exact", settings.model_copy(update={"cut": 0.5, "steps": 3})) is None


def test_mri_preset_uses_hospital_slice_ranges(tmp_path):
    result = trustgen("collab", "run", "--preset", "mri", "--cut", "0.5", "--steps", "2", "samples_per_client=12",
                      *TINY, "--out", tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    m = json.loads(result.stdout)
    assert "fd_pixels" in m["clients"][0] and "fd_pixels" in m["pooled"]
    assert [c["train_images"] + c["heldout_images"] for c in m["clients"]] == [30, 30, 30]


def test_per_client_cuts_on_the_command_line(tmp_path):
    result = trustgen("collab", "run", "--cut", "0.25,0.5,1", "--steps", "2", *TINY, "--out", tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    m = json.loads(result.stdout)
    assert m["t_c"] == [5, 10, 20] and [c["unet_evals_per_image"] for c in m["clients"]] == [5, 10, 20]
    assert m["clients"][2]["reid_rate"] == 0.0 and m["clients"][2]["recon_mse"] is None
    assert_bad_input(trustgen("collab", "run", "--cut", "0.2,0.4", "--out", tmp_path / "bad"), "per-client cuts")


@pytest.fixture
def bars(monkeypatch):
    """The descriptions of the progress bars that were asked for (rendered as plain loops)."""
    from trustgen.core import progress

    seen: list[str] = []
    real = progress.track

    def track(items, *, description, enabled=True, total=None):
        if enabled:
            seen.append(description)
        return real(items, description=description, enabled=False, total=total)

    monkeypatch.setattr(progress, "track", track)
    return seen


def test_long_phases_show_progress(tmp_path, bars, monkeypatch):
    """collab run's training and its generation/attacks, privacy, the sweep as a whole and Flower's rounds."""
    from trustgen.collab import experiment, sweep
    from trustgen.collab.build import build_engine
    from trustgen.collab.config import CollabSettings
    from trustgen.collab.flower.config import FederationSettings
    from trustgen.collab.flower.engine import FederationStopped, FlowerEngine

    tiny = {"block_out_channels": (8, 16), "norm_num_groups": 4, "attention_head_dim": 4}
    settings = CollabSettings(clients=1, num_train_timesteps=10, samples_per_client=2, steps=1, batch_size=4,
                              partition="iid", cut=0.5, unet=tiny)
    monkeypatch.setattr(experiment, "_disclosure", lambda *a: {k: None for k in ("recon_mse", "recon_ssim")} |
                        {"reid_rate": 0.0, "reid_chance": 1.0, "membership_auroc": 0.5})
    monkeypatch.setattr(experiment, "_fidelity", lambda *a: {"fd_digits": 0.0, "fd_floor": 0.0})
    monkeypatch.setattr("trustgen.core.metrics.evaluate_samples", lambda *a, **k: {"fd_digits": 0.0})
    experiment.run_collab(settings, tmp_path / "run", progress=True)
    sweep.privacy_curve(settings, [0.5], progress=True)
    monkeypatch.setattr(sweep, "_run_task", lambda kind, s, folder, progress=False: {"kind": kind})
    assert sweep._run_tasks([("collab", settings, tmp_path), ("fedavg", settings, tmp_path)], 1, True) == [
        {"kind": "collab"}, {"kind": "fedavg"}]

    class NoNodes:  # a Flower grid nobody joined: the first round stops the run
        def get_node_ids(self):
            return []

        def send_and_receive(self, messages, timeout):
            return []

    local = build_engine(settings, [experiment.client_splits(settings)[0][0]])
    engine = FlowerEngine(local.clients, local.server, local.cuts, grid=NoNodes(), out=tmp_path / "fl",
                          federation=FederationSettings(join_timeout=0, local_steps=5), log=lambda line: None)
    (tmp_path / "fl").mkdir()
    with pytest.raises(FederationStopped):
        engine.train(10, lambda s: 1e-3, progress=True)
    assert bars == ["collaborative training", "generation, scores and attacks per client",
                    "reconstruction attack per cut", "sweep: 2 runs", "Flower rounds of 5 steps"]


def test_the_llm_load_shows_a_spinner(monkeypatch):
    import rich.progress

    from trustgen.textattack import experiment, llm
    from trustgen.textattack.config import AttackSettings

    shown: list[str] = []

    class Spinner(rich.progress.Progress):
        def add_task(self, description, **kw):
            shown.append(description)
            return super().add_task(description, **kw)

    monkeypatch.setattr(rich.progress, "Progress", Spinner)
    monkeypatch.setattr(llm, "load_llm", lambda spec, **kw: f"loaded {spec}")
    assert experiment._load_llm(AttackSettings(), progress=True) == "loaded smollm2-135m"
    assert experiment._load_llm(AttackSettings(), progress=False) == "loaded smollm2-135m"
    assert shown == ["loading the attacker LLM smollm2-135m"]
