"""A fake OpenAI-compatible model for the test stack's ArchitectAgent runs: it reads the anchors
the agent put in its prompt ([slide N: Title], [page N], [HH:MM:SS-HH:MM:SS] with an en dash) and answers a
structure that cites them — plus one made-up timecode and slide, which the agent must drop —
or, for condensing requests, a summary with one point per anchor; a refine of a module or a
lesson gets that part back, retitled as its instructions' "TITLE: …" line asks. For homework_check requests
it grades the <student_answer> block by markers in it (see GRADE_* below). Embeddings are a
bag of the text's words (:func:`embed_text`), so equal texts get equal vectors and texts that
share words are near each other: tests can seed concepts with known embeddings."""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
import time

from tests.fakes.openai_server import FakeOpenAI, Request, chat_completion, embeddings, error

MODEL = "gpt-4o-mini"  # a registry model, so the runs have a real price
EMBEDDING_MODEL = "text-embedding-3-small"
MADE_UP_TIMECODE = "09:59:59"
MADE_UP_SLIDE = 999
# A course whose text holds this gets a refusal from every model: a failed run.
REFUSE = "REFUSE-THIS-COURSE"

# Markers a test puts in a student's answer to choose the grade the fake gives.
GRADE_WRONG = "ANSWER-WRONG"  # score 30, not passed
GRADE_OUT_OF_SCALE = "ANSWER-OUT-OF-SCALE"  # score 1000, every time: outside the grade's schema
GRADE_SLOW = "ANSWER-SLOW"  # answered after SLOW_SECONDS
SLOW_SECONDS = 3.0
GOOD_SCORE, WRONG_SCORE = 90, 30

_BLOCK = re.compile(r"<material ([^>]*)>(.*?)</material>", re.S)
_NAME = re.compile(r'name="([^"]*)"')
_SLIDE = re.compile(r"\[slide (\d+)(?::[^\]]*)?\]")
_PAGE = re.compile(r"\[page (\d+)\]")
_SPAN = re.compile(r"\[(\d{2}:\d{2}:\d{2})[–-](\d{2}:\d{2}:\d{2})\]")  # noqa: RUF001 (the agent's en dash)


def _lesson(name: str, block: str, index: int) -> dict:
    slides = sorted({int(n) for n in _SLIDE.findall(block)} | {int(n) for n in _PAGE.findall(block)})
    spans = _SPAN.findall(block)
    return {
        "title": f"Lesson {index + 1}: {name}",
        "video_start_timecode": spans[0][0] if spans else None,
        "video_end_timecode": spans[-1][1] if spans else None,
        "slide_start": slides[0] if slides else None,
        "slide_end": slides[-1] if slides else None,
        "concepts": [
            {
                "title": f"Key idea of {name}",
                "definition": f"What {name} teaches, in one sentence.",
                "examples": ["an example"],
                "timecodes": [start for start, _ in spans[:2]] + [MADE_UP_TIMECODE],
                "slide_references": [*slides[:2], MADE_UP_SLIDE],
                "web_references": [],
            }
        ],
        "exercises": [
            {
                "description": f"Explain the key idea of {name}.",
                "reference_solution": "A short explanation.",
                "grading_criteria": "Names the idea; gives an example.",
                "difficulty": 2,
            }
        ],
    }


def _structure(prompt: str) -> dict:
    blocks = [(_NAME.search(attributes), body) for attributes, body in _BLOCK.findall(prompt)]
    lessons = [_lesson(name.group(1) if name else "material", body, i) for i, (name, body) in enumerate(blocks)]
    return {
        "course": {
            "title": "Python basics",
            "description": "A first course in Python, from variables to loops.",
            "learning_goal": "Write small Python programs.",
            "expected_knowledge": ["using a computer"],
            "expected_skills": ["write a loop", "name variables well"],
        },
        "modules": [
            {
                "title": "Foundations",
                "description": "The first steps.",
                "learning_goal": "Read and write simple code.",
                "expected_knowledge": [],
                "expected_skills": ["write a loop"],
                "difficulty": "easy",
                "lessons": lessons,
            }
        ],
    }


def _summary(prompt: str) -> dict:
    points = [{"text": "a point", "start": s, "end": e, "slide": None, "page": None} for s, e in _SPAN.findall(prompt)]
    points += [
        {"text": "a point", "start": None, "end": None, "slide": int(n), "page": None} for n in _SLIDE.findall(prompt)
    ]
    return {"points": points or [{"text": "a point", "start": None, "end": None, "slide": None, "page": None}]}


def _grade(prompt: str) -> dict:
    answer = re.search(r"<student_answer>\n(.*)\n</student_answer>", prompt, re.S)
    criteria = re.search(r"<grading_criteria>\n(.*?)\n</grading_criteria>", prompt, re.S)
    text = answer.group(1) if answer else ""
    wrong = GRADE_WRONG in text
    score = 1000 if GRADE_OUT_OF_SCALE in text else WRONG_SCORE if wrong else GOOD_SCORE
    names = [c.strip() for c in re.split(r"[;\n]", criteria.group(1) if criteria else "") if c.strip()]
    return {
        "score": score,
        "passed": not wrong,
        "feedback": "Missing the key idea." if wrong else "Good work.",
        "criteria": [{"criterion": name, "met": not wrong, "comment": "checked"} for name in names],
    }


def _chat(request: Request) -> tuple[int, dict]:
    body = request.json
    # the user message holds the data; the system message only describes its shape
    prompt = "\n".join(str(m.get("content", "")) for m in body["messages"] if m.get("role") == "user")
    if REFUSE in prompt:
        return error(400, "this fake model refuses the course")
    name = body.get("response_format", {}).get("json_schema", {}).get("name", "")
    if name == "homework_check":
        if GRADE_SLOW in prompt:
            time.sleep(SLOW_SECONDS)
        return chat_completion(
            json.dumps(_grade(prompt)), model=body["model"], tokens_in=len(prompt) // 4, tokens_out=120
        )
    if name.endswith("_refinement"):
        answer = _refined(prompt, name.removesuffix("_refinement"))
    else:
        answer = _summary(prompt) if "summary" in name else _structure(prompt)
    return chat_completion(json.dumps(answer), model=body["model"], tokens_in=len(prompt) // 4, tokens_out=900)


def _refined(prompt: str, kind: str) -> dict:
    """A refine of one module or lesson: the <structure> part as it was, its title changed as
    the instructions' "TITLE: …" line says (the fake follows only that)."""
    part = json.loads(html.unescape(re.search(r"<structure>\n(.*?)\n</structure>", prompt, re.S).group(1)))
    wanted = re.search(r"TITLE: (.*)", re.search(r"<instructions>\n(.*?)\n</instructions>", prompt, re.S).group(1))
    if wanted:
        part["title"] = wanted.group(1).strip()
    return {kind: part}


def embed_text(text: str) -> list[float]:
    """The fake's embedding of ``text``: each word adds to one of 1536 dimensions (by its hash),
    normalised; one fixed dimension keeps a text without words from being a zero vector."""
    vector = [0.0] * 1536
    vector[0] = 0.1
    for word in re.findall(r"\w+", text.lower()):
        vector[1 + int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % 1535] += 1.0
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def _embed(request: Request) -> tuple[int, dict]:
    texts = request.json["input"]
    texts = [texts] if isinstance(texts, str) else texts
    vectors = [embed_text(text) for text in texts]
    return embeddings(vectors, model=request.json["model"], tokens_in=sum(len(t) // 4 for t in texts))


def course_model() -> FakeOpenAI:
    """The fake, with its routes; enter it to serve."""
    fake = FakeOpenAI()
    fake.route("POST", "/v1/chat/completions", _chat)
    fake.route("POST", "/v1/embeddings", _embed)
    return fake
