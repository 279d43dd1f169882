"""``trustgen textattack run``: attack a detector on offensive texts, one run directory out.

``DIR/results.jsonl`` gets one object per text as soon as the text is finished (``text``,
``adversarial``, ``success``, ``score_before``, ``score_after``, ``queries``, ``levenshtein`` and more;
texts the run does not attack carry ``skipped``), ``DIR/histories.jsonl`` every attempt of every text.
A crash or Ctrl-C loses at most the text in progress; running the same command into the same folder
resumes after the finished texts (the settings must match, except ``n``, which may grow).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from trustgen.core.errors import TrustgenError
from trustgen.core.progress import track
from trustgen.core.runs import RunDir, json_safe
from trustgen.textattack.config import AttackSettings
from trustgen.textattack.loop import AttackResult, LLMProposer, LoopSettings, Proposer, attack_text
from trustgen.textattack.metrics import minilm_similarity, summarize
from trustgen.textattack.prompt import Step, rewrite_message
from trustgen.textattack.report import attack_report
from trustgen.textattack.search import LLMSearch, SearchSettings

DEFAULT_MAX_CHARS = 300
RESUMABLE_IGNORED = {"n"}
DEEPWORDBUG_MAX_LEVENSHTEIN = 30  # the recipe's own constraint


def loop_settings(s: AttackSettings) -> LoopSettings:
    return LoopSettings(max_steps=s.max_steps, min_changes=s.min_changes, max_changes=s.max_changes,
                        threshold=s.threshold, patience=s.patience, candidates=s.candidates)


def search_settings(s: AttackSettings) -> SearchSettings:
    """The :class:`~trustgen.textattack.search.SearchSettings` of a run (``search_samples`` unset: none with a
    local LM, 8 with an endpoint, which gives no next-token distributions)."""
    endpoint = s.llm.startswith(("http://", "https://"))
    samples = s.search_samples
    if samples is None:
        samples = 8 if endpoint else 0
    if endpoint and samples == 0:
        raise TrustgenError("an OpenAI-compatible endpoint gives no next-token distributions: llm-search needs "
                            "search_samples >= 1 with --llm URL")
    return SearchSettings(beam=s.beam, similarity_floor=s.similarity_floor, words_per_step=s.words_per_step,
                          mask_candidates=s.mask_candidates, samples=samples, deletions=s.deletions,
                          step_bound=s.step_bound, query_budget=s.query_budget, max_steps=s.max_steps,
                          min_changes=s.min_changes, max_changes=s.max_changes, threshold=s.threshold,
                          length_slack=s.length_slack)


def _load_llm(s: AttackSettings, progress: bool = False) -> Any:
    """The attacker LLM; with ``progress`` a spinner with the elapsed time while it loads (tens of seconds)."""
    from contextlib import nullcontext

    from trustgen.textattack.llm import load_llm

    shown: Any = nullcontext()
    if progress:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        shown = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                         console=Console(stderr=True), transient=True)
        shown.add_task(f"loading the attacker LLM {s.llm}", total=None)
    with shown:
        return load_llm(s.llm, seed=s.seed, temperature=s.temperature, top_p=s.top_p,
                        repetition_penalty=s.repetition_penalty, penalty_scope=s.penalty_scope, model=s.llm_model,
                        api_key_env=s.api_key_env, timeout=s.request_timeout)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Finished rows of an earlier run; a torn last line (a crash while writing) is dropped."""
    if not path.is_file():
        return []
    rows, good = [], 0
    with path.open("rb") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except ValueError:
                break
            good += len(line)
    if good < path.stat().st_size:
        with path.open("rb+") as f:
            f.truncate(good)
    return rows


def _check_resume(run: RunDir, settings: AttackSettings) -> None:
    import yaml

    path = run.file("config.yaml")
    if not path.is_file() or not run.file("results.jsonl").is_file():
        return
    old = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    new = settings.model_dump(mode="json")
    # a setting only one side knows (a newer trustgen added it) does not block resuming
    differ = sorted(k for k in set(old) & set(new) if k not in RESUMABLE_IGNORED and old[k] != new[k])
    if differ:
        raise TrustgenError(f"{run.path} holds a run with other settings ({', '.join(differ)}): "
                            "choose another --out to start a new run, or the same settings to resume")


def _append(path: Path, obj: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(json_safe(obj), ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def run_attack(settings: AttackSettings, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """Attack ``settings.n`` texts of ``settings.data`` with ``settings.attacker``; write the run folder."""
    from trustgen.textattack.corpus import attack_texts
    from trustgen.textattack.detectors import load_detector

    loop = loop_settings(settings)
    if settings.threads is not None:
        import torch

        torch.set_num_threads(settings.threads)
    detector = load_detector(settings.detector)  # an unknown name fails before anything heavy loads
    llm = _load_llm(settings, progress) if settings.attacker == "llm" else None  # a bad name or endpoint fails here
    max_chars = settings.max_chars or min(DEFAULT_MAX_CHARS, detector.max_chars or DEFAULT_MAX_CHARS)
    texts = attack_texts(settings.data, settings.n, settings.seed, max_chars)
    proposer: Any = None
    deepwordbug: Any = None
    implementation: str = settings.attacker
    if settings.attacker == "llm-search":
        from trustgen.textattack.metrics import minilm_similarity_to

        plan = search_settings(settings)
        need = max(plan.step_need(t) for t in texts)
        if settings.query_budget is not None and settings.query_budget < need:
            raise TrustgenError(f"query_budget={settings.query_budget} is below one llm-search step on these texts "
                                f"(up to {need} queries: the text, one deletion per word, {plan.words_per_step} "
                                f"words x {plan.mask_candidates + plan.samples} candidates)")
        llm = _load_llm(settings, progress)
        proposer = LLMSearch(llm, detector, minilm_similarity_to(), plan)
        implementation = f"llm-search ({llm.name})"
    elif settings.attacker == "llm":
        proposer = LLMProposer(llm, prefill=settings.prefill, max_new_tokens=settings.max_new_tokens,
                               length_slack=settings.length_slack, history_limit=settings.history_limit)
    elif settings.attacker == "random":
        from trustgen.textattack.baselines import RandomProposer

        proposer = RandomProposer(loop, seed=settings.seed)
    else:
        from trustgen.textattack.baselines import deepwordbug as build_deepwordbug

        deepwordbug, implementation = build_deepwordbug(detector, loop, settings.query_budget, settings.seed)

    with RunDir(out) as run:
        _check_resume(run, settings)
        results, histories = run.file("results.jsonl"), run.file("histories.jsonl")
        rows = [r for r in read_rows(results) if r.get("index", -1) < len(texts)]
        done = {int(r["index"]) for r in rows}
        run.write_config(settings)
        run.file("metrics.json").unlink(missing_ok=True)
        run.log(f"{settings.attacker} attack on {detector.name}: {len(texts)} texts of {settings.data} "
                f"({len(done)} already finished)")
        todo = [i for i in range(len(texts)) if i not in done]
        before: list[float] = [float(x) for x in detector.scores([texts[i] for i in todo])] if todo else []
        for i, score in track(list(zip(todo, before, strict=True)), description=f"attacking {detector.name}",
                              enabled=progress):
            row = _attack_one(i, texts[i], float(score), settings, loop, detector, proposer, deepwordbug, llm)
            if isinstance(row, AttackResult):
                _append(histories, {"index": i, **row.history()})
                record = {"index": i, **row.row()}
                run.log(f"text {i}: {row.stop}, score {row.score_before:.3f} → {row.score_after:.3f}, "
                        f"{row.steps} steps, {row.queries} queries, {row.seconds:.1f} s")
            else:
                record = row
                run.log(f"text {i}: skipped ({row['skipped']})")
            _append(results, record)
            rows.append(record)
        rows.sort(key=lambda r: int(r["index"]))
        metrics = {"detector": detector.name, "attacker": settings.attacker, "implementation": implementation,
                   "llm": getattr(llm, "name", None),
                   **summarize(rows, similarity=_similarity(rows) if settings.quality_metrics else None,
                               perplexity=_perplexity(rows, llm) if settings.quality_metrics else None)}
        if settings.attacker not in ("llm", "llm-search"):  # proposer calls of a baseline are not LLM calls
            metrics.update(llm_calls=None, llm_answers=None, llm_calls_per_s=None,
                           valid_answer_rate=metrics["valid_answer_rate"] if settings.attacker == "random" else None)
        metrics["texts"] = len(texts)
        run.write_report(attack_report(metrics, rows, settings,
                                       search_settings(settings) if settings.attacker == "llm-search" else None))
        run.write_metrics(metrics)
    return metrics


def _attack_one(i: int, text: str, score: float, settings: AttackSettings, loop: LoopSettings, detector: Any,
                proposer: Proposer | None, deepwordbug: Any, llm: Any) -> AttackResult | dict[str, Any]:
    skipped = {"index": i, "text": text, "adversarial": text, "success": False, "score_before": score,
               "score_after": score, "queries": 1, "levenshtein": 0}
    if score < settings.threshold:
        return {**skipped, "skipped": "below_threshold"}
    if isinstance(proposer, LLMSearch):
        if llm.context_length is not None and \
                llm.count_tokens(rewrite_message(text)) + 2 * llm.count_tokens(text) + 8 > llm.context_length:
            return {**skipped, "skipped": "too_long_for_llm"}
        if hasattr(llm, "reseed"):
            llm.reseed(settings.seed * 1_000_003 + i)
        return proposer.run(text, score)
    if deepwordbug is not None:
        if hasattr(deepwordbug, "reseed"):
            deepwordbug.reseed(settings.seed * 1_000_003 + i)
        result: AttackResult = deepwordbug.run(text, score)
        if result.verified and result.levenshtein > DEEPWORDBUG_MAX_LEVENSHTEIN:
            result.verified = result.success = False
        return result
    assert proposer is not None
    if isinstance(proposer, LLMProposer) and llm is not None and llm.context_length is not None:
        need = proposer.prompt_tokens([Step(0, text, score)])
        if need > llm.context_length:
            return {**skipped, "skipped": "too_long_for_llm"}
    reseed = getattr(proposer, "reseed", None) or getattr(llm, "reseed", None)
    if reseed is not None:
        reseed(settings.seed * 1_000_003 + i)  # each text has its own stream: a resumed run gives the same numbers
    return attack_text(text, detector, proposer, loop, score_before=score)


def _similarity(rows: list[dict[str, Any]]) -> Any:
    return minilm_similarity() if any(r["success"] for r in rows) else None


def _perplexity(rows: list[dict[str, Any]], llm: Any) -> Any:
    if not any(r["success"] for r in rows):
        return None
    from trustgen.textattack.llm.local import TransformersLLM
    from trustgen.textattack.llm.smollm2 import SMOLLM2_NAME, smollm2_path

    local = llm if isinstance(llm, TransformersLLM) and llm.name == SMOLLM2_NAME else TransformersLLM(smollm2_path())
    return local.perplexity
