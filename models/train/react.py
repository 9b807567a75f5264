"""The ReAct transcript format v1 (DESIGN.md), as the data generator and
the evaluation driver write and read it.

The prompt comes from the one template file, agent/prompts/react-v1.txt,
whose only placeholders are {{tools}} and {{question}}.  Until the agent
runtime has added that file, the template text below (DESIGN.md's bytes)
stands in; tests/unit/test-model-data.sh checks that the two agree once
the file exists.
"""

import json
import os
import re

TEMPLATE_FALLBACK = (
    "Answer the question. You can use these tools:\n"
    "{{tools}}\n"
    "Use this format:\n"
    "Thought: what to do next\n"
    "Action: one tool name\n"
    "Action Input: a JSON object of arguments\n"
    "Observation: the tool's result\n"
    "(Thought, Action, Action Input and Observation repeat as needed)\n"
    "Thought: I know the answer\n"
    "Final Answer: the answer\n"
    "Question: {{question}}\n"
)

OBS_MAX = 1000
TRUNCATED = " [truncated]"


def template_path(srcdir):
    return os.path.join(srcdir, "agent", "prompts", "react-v1.txt")


def load_template(srcdir):
    """The template's text: the runtime's file when present, else the
    DESIGN.md copy above."""
    path = template_path(srcdir)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return f.read()
    return TEMPLATE_FALLBACK


def compact(obj):
    """JSON as jansson's JSON_COMPACT | JSON_SORT_KEYS writes it, UTF-8
    left unescaped."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True,
                      ensure_ascii=False)


def tool_line(name, description, schema):
    return "%s: %s Arguments: %s" % (name, description, compact(schema))


def render_prompt(template, tool_lines, question):
    """The prompt: tool lines sorted by name, one a line."""
    lines = sorted(tool_lines, key=lambda s: s.split(":", 1)[0])
    tools = "".join(line + "\n" for line in lines)
    # {{tools}} stands on its own line: its lines end with '\n' already.
    text = template.replace("{{tools}}\n", tools)
    return text.replace("{{question}}", question)


def render_observation(text, is_error=False):
    """A tool's text as one observation line's content."""
    out = re.sub(r"\n+", " | ", text).rstrip()
    if is_error:
        out = "Error: " + out
    raw = out.encode("utf-8")
    if len(raw) > OBS_MAX:
        cut = raw[:OBS_MAX]
        while cut and (cut[-1] & 0xC0) == 0x80:
            cut = cut[:-1]
        if cut and cut[-1] >= 0xC0:
            cut = cut[:-1]
        out = cut.decode("utf-8") + TRUNCATED
    return out


class Step:
    """What the model writes in one step, parsed."""

    def __init__(self):
        self.thoughts = []
        self.action = None
        self.action_input = None
        self.final = None
        self.error = None


def parse_step(text):
    """Parses the model's text for one step (up to the stop string):
    Thought lines, then Action + Action Input or Final Answer.  Sets
    step.error to a short reason when it is not a valid step."""
    st = Step()
    lines = text.split("\n")
    i = 0
    while i < len(lines) and lines[i].startswith("Thought:"):
        st.thoughts.append(lines[i][len("Thought:"):].strip())
        i += 1
    if not st.thoughts:
        st.error = "no Thought line"
        return st
    if i >= len(lines):
        st.error = "no Action or Final Answer"
        return st
    if lines[i].startswith("Final Answer:"):
        st.final = lines[i][len("Final Answer:"):].strip()
        return st
    if not lines[i].startswith("Action:"):
        st.error = "unexpected line %r" % lines[i][:40]
        return st
    st.action = lines[i][len("Action:"):].strip()
    if i + 1 >= len(lines) or not lines[i + 1].startswith("Action Input:"):
        st.error = "no Action Input"
        return st
    raw = lines[i + 1][len("Action Input:"):].strip()
    try:
        st.action_input = json.loads(raw)
    except ValueError:
        st.action_input = raw
    return st
