"""LLM backends: names, bad endpoints, and the endpoint backend against a real OpenAI-compatible server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from trustgen.core.errors import TrustgenError
from trustgen.textattack.llm import OpenAIChatLLM, load_llm, smollm2_path, wait_for_endpoint
from trustgen.textattack.prompt import Step, answer_prefix, parse_answer, user_message


def test_unknown_llm_is_refused_in_one_line(tmp_path):
    with pytest.raises(TrustgenError, match="unknown LLM"):
        load_llm(str(tmp_path / "nowhere"))


def test_unreachable_endpoint_is_one_clear_error():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TrustgenError, match="cannot reach the LLM endpoint") as info:
        OpenAIChatLLM(f"http://127.0.0.1:{port}", timeout=5)
    assert "\n" not in str(info.value)


def test_smollm2_cache_is_a_safetensors_folder():
    path = smollm2_path()
    assert (path / "model.safetensors").is_file() and (path / "config.json").is_file()
    assert smollm2_path() == path  # converted once, then reused


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server():
    """``transformers serve`` (an OpenAI-compatible server shipped with transformers) over the cached
    SmolLM2 folder, on loopback; the whole process group is killed on teardown."""
    port = _free_port()
    exe = Path(sys.executable).with_name("transformers")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen([str(exe), "serve", str(smollm2_path()), "--host", "127.0.0.1", "--port", str(port),
                             "--device", "cpu"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        try:
            wait_for_endpoint(f"http://127.0.0.1:{port}", timeout=180)
        except TrustgenError:
            proc.kill()
            tail = proc.stderr.read().decode()[-800:] if proc.stderr else ""
            pytest.fail(f"transformers serve did not start: {tail}")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.mark.slow
def test_endpoint_backend_against_a_real_server(server):
    llm = load_llm(server, seed=1)
    assert isinstance(llm, OpenAIChatLLM) and llm.model == str(smollm2_path())  # found via /v1/models
    history = [Step(0, "you are a stupid idiot", 0.97)]
    answers = llm.complete(user_message(history), prefix=answer_prefix(history), n=2, max_new_tokens=24)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    assert llm.calls >= 1
    [parse_answer(a) for a in answers]  # parseable or not, never an exception


@pytest.mark.slow
def test_cli_attack_through_the_endpoint(server, tmp_path):
    from cli_support import trustgen

    data = tmp_path / "texts.jsonl"
    data.write_text('{"text": "you are a stupid idiot"}\n', encoding="utf-8")
    out = tmp_path / "run"
    result = trustgen("textattack", "run", "--detector", "alt-profanity-check", "--llm", server, "--data", data,
                      "--n", "1", "--out", out, "--json", "max_steps=1", "patience=2", "candidates=2",
                      "max_new_tokens=24")
    assert result.returncode == 0, result.stderr
    import json

    metrics = json.loads(result.stdout)
    assert metrics["llm_calls"] >= 1 and metrics["llm"].startswith(server)


@pytest.mark.slow
def test_llm_search_through_the_endpoint_uses_generated_rewrites(server, tmp_path):
    import json

    from cli_support import trustgen

    data = tmp_path / "texts.jsonl"
    data.write_text('{"text": "you are a stupid idiot"}\n', encoding="utf-8")
    out = tmp_path / "run"
    result = trustgen("textattack", "run", "--detector", "alt-profanity-check", "--attacker", "llm-search", "--llm",
                      server, "--data", data, "--n", "1", "--out", out, "--json", "search_samples=2", "beam=1",
                      "words_per_step=1", "max_steps=2", "query_budget=40")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 1 and metrics["llm_calls"] >= 1
    [history] = [json.loads(line) for line in (out / "histories.jsonl").read_text(encoding="utf-8").splitlines()]
    kinds = {a["answer"].split(" ")[0] for a in history["attempts"]}
    assert "sample" in kinds and "mask" not in kinds  # no logits: generated rewrites (and deletions) only
    assert json.loads((out / "results.jsonl").read_text(encoding="utf-8"))["queries"] <= 40
