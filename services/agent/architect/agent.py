"""The ArchitectAgent: a course's documents in, a checked course structure out."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from libs.llm.registry import Registry
from libs.llm.router import LlmRouter, Result
from services.agent.architect import condense, refine, schema, templates
from services.agent.architect.budget import Budget, budget_for, estimate_tokens, reachable_models, request_tokens
from services.agent.architect.check import Checked, check
from services.agent.architect.errors import ContextTooLarge, NoMaterials
from services.agent.architect.materials import MaterialText, data, render_block
from services.agent.architect.references import References

PROMPT = "structure.v1"
REFINE_PROMPT = "refine.v1"
# deepseek-chat's output cap, the smallest of the registry's chat models; a smaller window
# gets a quarter of itself.
MAX_OUTPUT = 8192
OUTPUT_SHARE = 4


@dataclass(frozen=True)
class Outcome:
    """A run's result: the course's fields and its modules in ``libs.store.structure.replace``'s
    format, what was dropped, the structuring model, and the cost of every call of the run
    (condensing included)."""

    course: dict
    modules: list[dict]
    dropped: dict[str, int]
    model: str
    provider: str
    cost_usd: Decimal
    tokens_in: int
    tokens_out: int
    condensed: list[str]
    prompt_version: str


class ArchitectAgent:
    """Builds the course context from its materials and slide mapping, condenses it to the
    structuring chain's budget if needed, asks for the structure and checks the answer."""

    def __init__(self, router: LlmRouter, registry: Registry) -> None:
        self.router = router
        self.registry = registry

    def budget(self, action: str, strategy: str, *, max_output: int, output_share: int) -> Budget:
        """The budget of the smallest window the router may reach for ``action``: the given
        registry's chains and the router's own (which puts OPENAI_MODEL first)."""
        registries = [self.registry]
        if isinstance(getattr(self.router, "registry", None), Registry) and self.router.registry is not self.registry:
            registries.append(self.router.registry)
        providers = getattr(self.router, "adapters", None)
        models = reachable_models(registries, action, strategy, providers)
        return budget_for(models, max_output=max_output, output_share=output_share)

    def run(
        self,
        *,
        tenant_id: str,
        job_id: str,
        course: dict,
        materials: list[MaterialText],
        slide_mapping: list[dict],
        strategy: str = "default",
        progress: Callable[[str, int], None] = lambda stage, percent: None,
        summaries: condense.Summaries | None = None,
    ) -> Outcome:
        """Structure the course. Raises :class:`NoMaterials` without materials,
        :class:`ContextTooLarge` when they cannot fit even condensed, and the router's
        ``NoProviderConfigured`` / ``AllModelsFailed``. ``summaries`` keeps condensed materials
        between runs: one condensed before by the same prompt and model is not paid for again."""
        progress("building context", 5)
        if not materials:
            raise NoMaterials()
        prompt = templates.load(PROMPT)
        budget = self.budget("course_structuring", strategy, max_output=MAX_OUTPUT, output_share=OUTPUT_SHARE)
        fixed = {"course": _course_block(course), "slide_mapping": _mapping_block(slide_mapping)}
        result, results, condensed = self._ask(
            prompt,
            fixed,
            schema.STRUCTURE,
            materials,
            budget,
            "the course's description and slide mapping alone",
            tenant_id=tenant_id,
            job_id=job_id,
            strategy=strategy,
            progress=progress,
            summaries=summaries,
        )
        progress("checking", 90)
        checked = check(result.data, References.of(materials, slide_mapping))
        progress("checking", 100)
        return _outcome(checked, result, results, condensed, prompt.version)

    def _ask(
        self,
        prompt: templates.Prompt,
        fixed: dict[str, str],
        answer_schema: dict,
        materials: list[MaterialText],
        budget: Budget,
        what: str,
        *,
        tenant_id: str,
        job_id: str,
        strategy: str,
        progress: Callable[[str, int], None],
        summaries: condense.Summaries | None,
    ) -> tuple[Result, list[Result], list[str]]:
        """The one structuring request: ``fixed`` blocks and the materials (condensed to fit what
        ``fixed`` leaves of the budget; ``what`` names ``fixed`` when it alone is too much), the
        answer meeting ``answer_schema``; with every call it took and the materials condensed."""
        system, empty = prompt.render(user={**fixed, "materials": ""})
        room = budget.input_tokens - request_tokens([system, empty], answer_schema)
        if room <= 0:
            raise ContextTooLarge(f"{what} need more than the {budget.context_tokens}-token context of {budget.model}")
        blocks, results, condensed = self._fit(
            materials,
            room,
            budget,
            tenant_id=tenant_id,
            job_id=job_id,
            strategy=strategy,
            progress=progress,
            summaries=summaries,
        )
        progress("structuring", 60)
        user = prompt.render(user={**fixed, "materials": "\n".join(blocks[m.id] for m in materials)})[1]
        result = self.router.complete_json(
            tenant_id=tenant_id,
            job_id=job_id,
            action="course_structuring",
            strategy=strategy,
            system=system,
            user=user,
            schema=answer_schema,
            prompt_version=prompt.version,
            max_tokens=budget.max_tokens,
        )
        return result, [*results, result], condensed

    def _fit(
        self,
        materials: list[MaterialText],
        room: int,
        budget: Budget,
        *,
        tenant_id: str,
        job_id: str,
        strategy: str,
        progress: Callable[[str, int], None],
        summaries: condense.Summaries | None,
    ) -> tuple[dict[str, str], list[Result], list[str]]:
        """The materials' blocks within ``room`` tokens (the longest condensed first, a kept
        summary reused), the calls that took, and the materials condensed."""
        blocks = {m.id: render_block(m) for m in materials}
        results: list[Result] = []
        condensed: list[str] = []
        if _size(blocks) > room:
            condensing = self.budget(
                "text_processing", strategy, max_output=condense.MAX_OUTPUT, output_share=condense.OUTPUT_SHARE
            )
            condenser = condense.Condenser(self.router, condensing, tenant_id, job_id, strategy)
            # the longest first: each condensed one frees the most room
            for number, material in enumerate(sorted(materials, key=lambda m: -estimate_tokens(blocks[m.id]))):
                if _size(blocks) <= room:
                    break
                progress("condensing", 10 + 45 * number // len(materials))
                key = condenser.key(material)
                summary = summaries.get(tenant_id, material.id, key) if summaries else None
                if summary is None:  # not condensed before by the same prompt and model
                    summary = condenser.condense(material)
                    if summaries:
                        summaries.put(tenant_id, material.id, key, summary)
                results += summary.results
                if estimate_tokens(summary.block) < estimate_tokens(blocks[material.id]):
                    blocks[material.id] = summary.block
                    condensed.append(material.id)
            if _size(blocks) > room:
                raise ContextTooLarge(
                    f"the course's materials need about {_size(blocks)} tokens even condensed, more than the "
                    f"{room} the {budget.context_tokens}-token context of {budget.model} leaves for them"
                )
        return blocks, results, condensed

    def refine(
        self,
        *,
        tenant_id: str,
        job_id: str,
        course: dict,
        current: dict,
        target: tuple[str, ...],
        instructions: str,
        materials: list[MaterialText],
        slide_mapping: list[dict],
        strategy: str = "default",
        progress: Callable[[str, int], None] = lambda stage, percent: None,
        summaries: condense.Summaries | None = None,
    ) -> Outcome:
        """``current`` (the course's fields and modules as :func:`refine.as_answer` gives them)
        changed as ``instructions`` say, in the part ``target`` names: ``()`` the whole course,
        ``("module", m)`` or ``("lesson", m, l)`` by index. The answer is checked like a run's,
        against the materials given; the parts outside the target stay as they are."""
        progress("building context", 5)
        if not materials:
            raise NoMaterials()
        prompt = templates.load(REFINE_PROMPT)
        answer_schema, part = refine.schema_and_part(current, target)
        budget = self.budget("course_structuring", strategy, max_output=MAX_OUTPUT, output_share=OUTPUT_SHARE)
        fixed = {
            "course": _course_block(course),
            "slide_mapping": _mapping_block(slide_mapping),
            "structure": data(json.dumps(part, ensure_ascii=False, indent=1)),
            "instructions": data(instructions),
        }
        result, results, condensed = self._ask(
            prompt,
            fixed,
            answer_schema,
            materials,
            budget,
            "the part to refine and the instructions alone",
            tenant_id=tenant_id,
            job_id=job_id,
            strategy=strategy,
            progress=progress,
            summaries=summaries,
        )
        progress("checking", 90)
        checked = refine.splice(current, target, result.data, References.of(materials, slide_mapping))
        return _outcome(checked, result, results, condensed, prompt.version)


def _outcome(checked: Checked, result: Result, results: list[Result], condensed: list[str], prompt: str) -> Outcome:
    """A run's or a refine's outcome: the checked answer, the answering model, and the cost of
    every call (condensing included)."""
    return Outcome(
        course=checked.course,
        modules=checked.modules,
        dropped=checked.dropped,
        model=result.model,
        provider=result.provider,
        cost_usd=sum((r.cost_usd for r in results), Decimal(0)),
        tokens_in=sum(r.tokens_in for r in results),
        tokens_out=sum(r.tokens_out for r in results),
        condensed=condensed,
        prompt_version=prompt,
    )


def _size(blocks: dict[str, str]) -> int:
    # one token for each line break that joins the blocks
    return sum(estimate_tokens(block) + 1 for block in blocks.values())


def _course_block(course: dict) -> str:
    # the author's own words about the course, delimited like any other data
    keys = ("title", "description", "learning_goal")
    fields = [f"<{key}>{data(str(course[key]))}</{key}>" for key in keys if course.get(key)]
    return "\n".join(["<course>", *fields, "</course>"])


def _mapping_block(slide_mapping: list[dict]) -> str:
    rows = [f"slide {row['slide_number']} at {row['video_timecode']}" for row in slide_mapping]
    return "\n".join(["<slide_mapping>", *(rows or ["(none)"]), "</slide_mapping>"])
