"""What a structure run will cost, bounded before it starts: from the size of the materials'
text, the calls the run makes (condensing the longest until the rest fits the structuring
model's room, then one structuring call per section) priced at the first model of each
chain. It errs high: tokens are counted as :func:`budget.estimate_tokens` does (above what a
provider counts), and no summary kept from an earlier run is assumed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from libs.llm.registry import Model
from libs.llm.router import LlmRouter
from services.agent.architect import condense
from services.agent.architect.agent import MAX_OUTPUT, OUTPUT_SHARE, ArchitectAgent
from services.agent.architect.budget import ASCII_CHARS_PER_TOKEN, reachable_models

# The prompt, the course's block, the slide mapping and the schema around the materials, and
# the frame of each condensing request around its part (generous: they are a few thousand).
STRUCTURING_FRAME_TOKENS = 6000
CONDENSING_FRAME_TOKENS = 1500


@dataclass(frozen=True)
class Estimate:
    calls: int
    cost_usd: Decimal

    def as_dict(self) -> dict:
        return {"estimated_calls": self.calls, "estimated_cost_usd": float(self.cost_usd)}


def estimate_run(router: LlmRouter, sizes: list[int], *, strategy: str, sections: int = 1) -> Estimate:
    """The calls and cost of a run over materials whose documents hold ``sizes`` characters."""
    agent = ArchitectAgent(router, router.registry)
    structuring = agent.budget("course_structuring", strategy, max_output=MAX_OUTPUT, output_share=OUTPUT_SHARE)
    room = max(1, structuring.input_tokens - STRUCTURING_FRAME_TOKENS)
    tokens = sorted((-(-chars // ASCII_CHARS_PER_TOKEN) for chars in sizes), reverse=True)
    total = sum(tokens)
    calls, cost = 0, Decimal(0)
    if total > room:
        condensing = agent.budget(
            "text_processing", strategy, max_output=condense.MAX_OUTPUT, output_share=condense.OUTPUT_SHARE
        )
        part = max(
            condense.MIN_PART_TOKENS,
            min(condensing.input_tokens - CONDENSING_FRAME_TOKENS, condensing.max_tokens * condense.PART_PER_SUMMARY),
        )
        model = _first(router, "text_processing", strategy)
        for material in tokens:  # the longest first, as the run condenses them
            if total <= room:
                break
            parts = -(-material // part)
            calls += parts
            cost += model.cost(material + parts * CONDENSING_FRAME_TOKENS, parts * condensing.max_tokens)
            total += parts * condensing.max_tokens - material
    model = _first(router, "course_structuring", strategy)
    calls += sections
    cost += model.cost(min(total, room) + sections * STRUCTURING_FRAME_TOKENS, sections * structuring.max_tokens)
    return Estimate(calls, cost)


def _first(router: LlmRouter, action: str, strategy: str) -> Model:
    """The model the router asks first for ``action``: the one a run is priced at."""
    return reachable_models([router.registry], action, strategy, router.adapters)[0]
