"""Writes the starter eval task set (server/planloop/eval/suite/) from the table below.

Each task gets repo/, hidden/, task.toml and scripted models for split, joint and auto.
The scripts are generated, not hand-written, so the three modes of a task do the same
edits and differ only in how the loop is shaped. Token counts in the scripts are
declared, not measured: the offline eval measures the harness, not a model.

    python scripts/make_eval_tasks.py      # rewrites server/planloop/eval/suite/
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "server" / "planloop" / "eval" / "suite"
JOINT_MAX_STEPS = 5
PRICE_AS = {"planner": "claude-opus-5-5", "executor": "claude-sonnet-5-5"}


@dataclass
class S:
    """One step: what it is called, the files it leaves, a pattern its result must contain."""

    id: str
    title: str
    files: dict[str, str]
    pattern: str


@dataclass
class T:
    name: str
    goal: str
    repo: dict[str, str]
    steps: list[S]
    hidden: dict[str, str]
    check: str
    #: files a joint run writes that break the workspace check (the escalation task)
    joint_breaks: dict[str, str] | None = None
    config: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def py_funcs(*bodies: str) -> str:
    return "\n\n".join(b.strip("\n") for b in bodies) + "\n"


ADD_BAD = "def add(a, b):\n    return a - b\n"
ADD = "def add(a, b):\n    return a + b\n"
SUB = "def sub(a, b):\n    return a - b\n"
MUL = "def mul(a, b):\n    return a * b\n"
DIV = (
    "def div(a, b):\n    if b == 0:\n        raise ValueError('division by zero')\n"
    "    return a / b\n"
)

STACK0 = "class Stack:\n    def __init__(self):\n        self.items = []\n"
STACK1 = STACK0 + (
    "\n    def push(self, x):\n        self.items.append(x)\n"
    "\n    def pop(self):\n        return self.items.pop()\n"
)
STACK2 = STACK1 + "\n    def peek(self):\n        return self.items[-1]\n"
STACK3 = STACK2 + (
    "\n    def is_empty(self):\n        return not self.items\n"
    "\n    def __len__(self):\n        return len(self.items)\n"
)

INV = [
    "ITEMS = {}\n",
    "def add_item(name, qty, price):\n    q, _ = ITEMS.get(name, (0, price))\n"
    "    ITEMS[name] = (q + qty, price)\n",
    "def remove_item(name, qty):\n    q, p = ITEMS[name]\n    if qty > q:\n"
    "        raise ValueError('not enough ' + name)\n    ITEMS[name] = (q - qty, p)\n",
    "def count(name):\n    return ITEMS.get(name, (0, 0))[0]\n",
    "def total_value():\n    return sum(q * p for q, p in ITEMS.values())\n",
    "def low_stock(limit):\n    return sorted(n for n, (q, _) in ITEMS.items() if q < limit)\n",
    "def report():\n    return '\\n'.join(f'{n}: {q} x {p}' for n, (q, p) in sorted(ITEMS.items()))\n",
]

TS = [
    "",
    "def words(text):\n    return text.split()\n",
    "def lines(text):\n    return text.splitlines()\n",
    "def chars(text):\n    return len(text)\n",
    "def top_word(text):\n    ws = [w.lower() for w in words(text)]\n"
    "    return max(sorted(set(ws)), key=ws.count) if ws else None\n",
    "def average_word_length(text):\n    ws = words(text)\n"
    "    return sum(map(len, ws)) / len(ws) if ws else 0.0\n",
    "def longest_line(text):\n    return max(lines(text), key=len, default='')\n",
    "def summary(text):\n    return {'words': len(words(text)), 'lines': len(lines(text)),"
    " 'chars': chars(text)}\n",
]

UNITS = [
    "",
    "function cToF(c) { return c * 9 / 5 + 32; }\n",
    "function fToC(f) { return (f - 32) * 5 / 9; }\n",
    "function kmToMiles(km) { return km * 0.621371; }\n",
]


def js(*fns: str, exports: list[str]) -> str:
    body = "".join(fns)
    return body + f"module.exports = {{ {', '.join(exports)} }};\n"


TASKS = [
    T(
        "py-fix-add",
        "Fix add() in calc.py: it subtracts instead of adding.",
        {"calc.py": py_funcs(ADD_BAD, SUB)},
        [S("fix-add", "Make add() add", {"calc.py": py_funcs(ADD, SUB)}, "return a + b")],
        {
            "hidden_check.py": "from calc import add, sub\nassert add(2, 3) == 5\nassert sub(5, 3) == 2\n"
        },
        "python hidden_check.py",
    ),
    T(
        "py-greeting",
        'Make greet(name) return "Hello, <name>!" instead of "Hi <name>".',
        {"greet.py": "def greet(name):\n    return 'Hi ' + name\n"},
        [
            S(
                "greeting",
                "Change the greeting",
                {"greet.py": "def greet(name):\n    return f'Hello, {name}!'\n"},
                "Hello, ",
            )
        ],
        {"hidden_check.py": "from greet import greet\nassert greet('Ada') == 'Hello, Ada!'\n"},
        "python hidden_check.py",
    ),
    T(
        "js-slugify",
        "Fix slugify() in slug.js: slugs must be lower case.",
        {
            "slug.js": js(
                "function slugify(s) { return s.trim().replace(/\\s+/g, '-'); }\n",
                exports=["slugify"],
            )
        },
        [
            S(
                "lower",
                "Lower-case the slug",
                {
                    "slug.js": js(
                        "function slugify(s) { return s.trim().toLowerCase().replace(/\\s+/g, '-'); }\n",
                        exports=["slugify"],
                    )
                },
                "toLowerCase",
            )
        ],
        {
            "hidden_check.js": "const { slugify } = require('./slug');\nif (slugify(' Hello World ') !== 'hello-world') { console.error('bad slug'); process.exit(1); }\n"
        },
        "node hidden_check.js",
    ),
    T(
        "py-clamp",
        "Add clamp(x, lo, hi) to mathx.py and document it in README.md.",
        {"mathx.py": "def double(x):\n    return 2 * x\n", "README.md": "# mathx\n\n- double(x)\n"},
        [
            S(
                "clamp",
                "Add clamp()",
                {
                    "mathx.py": "def double(x):\n    return 2 * x\n\n\ndef clamp(x, lo, hi):\n    return max(lo, min(hi, x))\n"
                },
                "def clamp",
            ),
            S(
                "docs",
                "Document clamp()",
                {"README.md": "# mathx\n\n- double(x)\n- clamp(x, lo, hi)\n"},
                "clamp(x, lo, hi)",
            ),
        ],
        {
            "hidden_check.py": "from mathx import clamp\nassert clamp(5, 0, 3) == 3 and clamp(-1, 0, 3) == 0 and clamp(2, 0, 3) == 2\nassert 'clamp' in open('README.md').read()\n"
        },
        "python hidden_check.py",
    ),
    T(
        "py-stack",
        "Give the Stack class in stack.py push, pop, peek, is_empty and len().",
        {"stack.py": STACK0},
        [
            S("push-pop", "Add push() and pop()", {"stack.py": STACK1}, "def pop"),
            S("peek", "Add peek()", {"stack.py": STACK2}, "def peek"),
            S("size", "Add is_empty() and len()", {"stack.py": STACK3}, "def __len__"),
        ],
        {
            "hidden_check.py": "from stack import Stack\ns = Stack()\nassert s.is_empty()\ns.push(1); s.push(2)\nassert s.peek() == 2 and len(s) == 2 and s.pop() == 2 and len(s) == 1\n"
        },
        "python hidden_check.py",
    ),
    T(
        "js-units",
        "Add cToF, fToC and kmToMiles to conv.js and export them.",
        {"conv.js": js(exports=[])},
        [
            S("c-to-f", "Add cToF", {"conv.js": js(*UNITS[:2], exports=["cToF"])}, "cToF"),
            S("f-to-c", "Add fToC", {"conv.js": js(*UNITS[:3], exports=["cToF", "fToC"])}, "fToC"),
            S(
                "km",
                "Add kmToMiles",
                {"conv.js": js(*UNITS, exports=["cToF", "fToC", "kmToMiles"])},
                "kmToMiles",
            ),
        ],
        {
            "hidden_check.js": "const c = require('./conv');\nconst near = (a, b) => Math.abs(a - b) < 1e-6;\nif (!(c.cToF(100) === 212 && c.fToC(32) === 0 && near(c.kmToMiles(10), 6.21371))) { console.error('wrong'); process.exit(1); }\n"
        },
        "node hidden_check.js",
    ),
    T(
        "py-escalate",
        "Add mul() and div() to calc.py (div by zero raises ValueError); keep add() and sub().",
        {
            "calc.py": py_funcs(ADD, SUB),
            "test_visible.py": "from calc import add, sub\nassert add(1, 2) == 3 and sub(3, 1) == 2\n",
        },
        [
            S("mul", "Add mul()", {"calc.py": py_funcs(ADD, SUB, MUL)}, "def mul"),
            S("div", "Add div()", {"calc.py": py_funcs(ADD, SUB, MUL, DIV)}, "def div"),
        ],
        {
            "hidden_check.py": "from calc import add, sub, mul, div\nassert add(1, 2) == 3 and sub(3, 1) == 2 and mul(2, 3) == 6 and div(6, 3) == 2\ntry:\n    div(1, 0)\nexcept ValueError:\n    pass\nelse:\n    raise SystemExit('div(1, 0) must raise')\n"
        },
        "python hidden_check.py",
        # the joint run rewrites calc.py and breaks sub(): the workspace check turns red
        joint_breaks={"calc.py": py_funcs(ADD, "def sub(a, b):\n    return b - a\n", MUL, DIV)},
        config='workspace_checks = ["python test_visible.py"]\n',
    ),
    T(
        "py-inventory",
        "Build the inventory module: add_item, remove_item, count, total_value, low_stock, report.",
        {"inventory.py": INV[0]},
        [
            S(
                f"inv-{i}",
                f"Add {INV[i].split('(')[0][4:]}()",
                {"inventory.py": "\n\n".join(INV[: i + 1])},
                INV[i].split("(")[0],
            )
            for i in range(1, 7)
        ],
        {
            "hidden_check.py": "import inventory as i\ni.add_item('nut', 5, 2.0); i.add_item('bolt', 1, 1.0); i.add_item('nut', 1, 2.0)\ni.remove_item('nut', 2)\nassert i.count('nut') == 4 and i.total_value() == 9.0 and i.low_stock(2) == ['bolt']\nassert i.report() == 'bolt: 1 x 1.0\\nnut: 4 x 2.0'\n"
        },
        "python hidden_check.py",
    ),
    T(
        "py-textstats",
        "Build textstats.py: words, lines, chars, top_word, average_word_length, longest_line, summary.",
        {"textstats.py": "# text statistics\n"},
        [
            S(
                f"ts-{i}",
                f"Add {TS[i].split('(')[0][4:]}()",
                {"textstats.py": "# text statistics\n\n\n" + "\n\n".join(TS[1 : i + 1])},
                TS[i].split("(")[0],
            )
            for i in range(1, 8)
        ],
        {
            "hidden_check.py": "import textstats as t\ns = 'a bb a\\nccc a'\nassert t.words(s) == ['a', 'bb', 'a', 'ccc', 'a'] and t.top_word(s) == 'a'\nassert t.longest_line(s) == 'a bb a' and t.summary(s) == {'words': 5, 'lines': 2, 'chars': 12}\nassert abs(t.average_word_length(s) - 1.6) < 1e-9\n"
        },
        "python hidden_check.py",
    ),
]

U_PLAN = {"input_tokens": 1800, "output_tokens": 450}
U_ACT = {"input_tokens": 900, "output_tokens": 160}
U_REPORT = {"input_tokens": 1100, "output_tokens": 60}


def tool(name: str, **inp: object) -> dict[str, object]:
    return {"type": "tool_use", "name": name, "input": inp}


def submit(t: T) -> dict[str, object]:
    steps = []
    prev: list[str] = []
    for s in t.steps:
        path = next(iter(s.files))
        steps.append(
            {
                "id": s.id,
                "title": s.title,
                "kind": "edit",
                "instructions": f"{s.title} in {', '.join(s.files)}.",
                "files": list(s.files),
                "acceptance": [
                    {"kind": "file_contains", "path": path, "pattern": re.escape(s.pattern)}
                ],
                "depends_on": prev[-1:],
            }
        )
        prev.append(s.id)
    return {"content": [tool("submit_plan", goal=t.goal, steps=steps)], "usage": U_PLAN}


def writes(files: dict[str, str]) -> dict[str, object]:
    return {
        "content": [tool("write_file", path=p, content=c) for p, c in files.items()],
        "usage": U_ACT,
    }


def report(summary: str) -> dict[str, object]:
    return {"content": [tool("report_outcome", ok=True, summary=summary)], "usage": U_REPORT}


def split_turns(t: T) -> list[dict[str, object]]:
    out = []
    for s in t.steps:
        out += [writes(s.files), report(f"{s.title}: done")]
    return out


def joint_turns(t: T) -> list[dict[str, object]]:
    final: dict[str, str] = {}
    for s in t.steps:
        final.update(s.files)
    if t.joint_breaks:
        # wrong the first time: the checks fail, a split re-plan takes over
        return [writes(t.joint_breaks), report("all done in one go"), *split_turns(t)]
    u = {"input_tokens": 900 + 350 * len(t.steps), "output_tokens": 160 * len(t.steps)}
    return [{**writes(final), "usage": u}, report("the whole task, in one loop")]


def script(planner: list[dict[str, object]], executor: list[dict[str, object]]) -> str:
    doc = {
        "_comment": "generated by scripts/make_eval_tasks.py; token counts are declared, not measured",
        "price_as": PRICE_AS,
        "planner": planner,
        "executor": executor,
    }
    return json.dumps(doc, indent=1) + "\n"


def write_task(t: T) -> None:
    d = OUT / t.name
    if d.exists():
        shutil.rmtree(d)
    for sub, files in (("repo", t.repo), ("hidden", t.hidden)):
        for rel, text in files.items():
            (d / sub / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / sub / rel).write_text(text)
    (d / "repo" / "planloop.toml").write_text(
        "# this task's own settings\n" + (t.config or "workspace_checks = []\n")
    )
    (d / "scripts").mkdir()
    n = len(t.steps)
    escalates = t.joint_breaks is not None
    replan = [submit(t)] if escalates else []
    (d / "scripts" / "split.json").write_text(script([submit(t)], split_turns(t)))
    (d / "scripts" / "joint.json").write_text(script(replan, joint_turns(t)))
    auto_exec = joint_turns(t) if n <= JOINT_MAX_STEPS else split_turns(t)
    (d / "scripts" / "auto.json").write_text(script([submit(t), *replan], auto_exec))
    (d / "task.toml").write_text(
        f"goal = {json.dumps(t.goal)}\n"
        f"horizon = {n}\n"
        "timeout_s = 120\n\n"
        "[check]\n"
        f"command = {json.dumps(t.check)}\n"
        "timeout_s = 30\n\n"
        "[scripted]\n"
        'split = "scripts/split.json"\n'
        'joint = "scripts/joint.json"\n'
        'auto = "scripts/auto.json"\n'
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for t in TASKS:
        write_task(t)
    (OUT / "README.md").write_text(
        "# planloop's starter eval tasks\n\nGenerated by `scripts/make_eval_tasks.py`; see "
        "docs/eval.md. Each folder: task.toml, repo/, hidden/, scripts/.\n"
    )
    print(f"wrote {len(TASKS)} tasks to {OUT}")


if __name__ == "__main__":
    main()
