"""The quickstart's chains of commands hold together: what one command reads, an earlier one writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _commands(text: str) -> list[str]:
    """The ``trustgen …`` commands of a markdown page's code blocks, in order (``&&`` chains split)."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = " \n".join(blocks).replace("\\\n", " ").splitlines()
    return [part.split("#")[0].strip() for line in lines for part in line.split("&&")
            if part.strip().startswith("trustgen ")]


@pytest.mark.parametrize("page", ["README.md", "docs/diffusion.md"])
def test_evaluate_samples_reads_a_folder_that_sample_writes(page):
    commands = _commands((ROOT / page).read_text(encoding="utf-8"))
    evaluated = [(i, m.group(1)) for i, c in enumerate(commands)
                 if c.startswith("trustgen diffusion evaluate") and (m := re.search(r"--samples (\S+)", c))]
    assert evaluated, page
    for i, folder in evaluated:
        writers = [c for c in commands[:i] if c.startswith("trustgen diffusion sample") and f"--out {folder}" in c]
        assert writers, f"{page}: `--samples {folder}` but no earlier `trustgen diffusion sample … --out {folder}`"
        for model in re.findall(r"--model (\S+)/model\b", writers[-1]):
            assert any(c.startswith("trustgen diffusion train") and f"--out {model}" in c for c in commands[:i]), model
