#!/usr/bin/python3
"""check_data.py: checks generated episodes against the real tools and
the runtime's format (run by tests/unit/test-model-data.sh).

    check_data.py --tools BIN --data DIR [--golden FILE]

- Every episode of DIR/{train,valid,test}.jsonl is well formed: the
  prompt is the template rendered with the episode's tool lines and
  question, the built-in tools' lines are byte for byte the registry's
  (tests/tools/model-tools), the steps follow the format, and the final
  answer is the episode's answer.
- Every observation of a built-in or Lua tool is replayed: the action and
  its input are parsed back from the transcript, the tool is called
  through model-tools, and the rendered output must equal the
  observation.
- With --golden (tests/fixtures/react-v1.golden, once the runtime adds
  it): the prompt and steps parsed from the golden transcript, rendered
  by the generator's code, reproduce it byte for byte.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import react  # noqa: E402
from toolrun import Tools  # noqa: E402

class CheckError(Exception):
    pass


def split_prompt(text):
    """(tool lines, question, rest) of a transcript."""
    head = "Answer the question. You can use these tools:\n"
    if not text.startswith(head):
        raise CheckError("transcript does not start with the template")
    fmt = text.index("Use this format:\n")
    lines = text[len(head):fmt].split("\n")[:-1]
    q = text.index("\nQuestion: ", fmt) + len("\nQuestion: ")
    end = text.index("\n", q)
    return lines, text[q:end], text[end + 1:]


def check_episode(rec, ctx):
    text = "".join(s[0] for s in rec["segments"])
    lines, question, rest = split_prompt(text)
    if question != rec["question"]:
        raise CheckError("question %r != %r" % (question, rec["question"]))
    prompt = react.render_prompt(ctx.template, lines, question)
    if rec["segments"][0][0] != prompt:
        raise CheckError("prompt differs from the template rendering")
    names = [ln.split(":", 1)[0] for ln in lines]
    if names != sorted(names):
        raise CheckError("tool lines not sorted by name")
    for n, ln in zip(names, lines):
        if n in ctx.lines and ln != ctx.lines[n]:
            raise CheckError("tool line of %s differs from the registry"
                             % n)
    for n in ("calc", "kb_search"):
        if n not in names:
            raise CheckError("built-in %s missing from the tool list" % n)
    replayed = 0
    out = rest.split("\n")
    i = 0
    answer = None
    while i < len(out) and out[i] != "":
        ln = out[i]
        if ln.startswith("Thought:"):
            i += 1
            continue
        if ln.startswith("Final Answer: "):
            answer = ln[len("Final Answer: "):]
            i += 1
            continue
        if not ln.startswith("Action: "):
            raise CheckError("unexpected line %r" % ln[:60])
        action = ln[len("Action: "):]
        if i + 2 >= len(out) or \
                not out[i + 1].startswith("Action Input: ") or \
                not out[i + 2].startswith("Observation: "):
            raise CheckError("action %s without input or observation"
                             % action)
        raw = out[i + 1][len("Action Input: "):]
        args = json.loads(raw)
        if react.compact(args) != raw:
            raise CheckError("Action Input %r is not compact sorted JSON"
                             % raw)
        obs = out[i + 2][len("Observation: "):]
        if action in ctx.lines:
            got, err = ctx.tools.call(action, args)
            want = react.render_observation(got, err)
            if want != obs:
                raise CheckError("%s %s: observation %r, the tool says %r"
                                 % (action, raw, obs[:80], want[:80]))
            replayed += 1
        i += 3
    if answer is None or answer != rec["answer"]:
        raise CheckError("final answer %r != %r" % (answer, rec["answer"]))
    if i != len(out) - 1:
        raise CheckError("text after the final answer")
    return replayed


def check_golden(path, ctx):
    """Rebuilds the golden transcript with the generator's renderer: the
    prompt from the template and the registry's tool lines, the model's
    lines as written, observations through render_observation()."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines, question, rest = split_prompt(text)
    for ln in lines:
        name = ln.split(":", 1)[0]
        if ctx.lines.get(name) != ln:
            raise CheckError("%s: tool line of %s differs from the "
                             "registry's" % (path, name))
    built = react.render_prompt(ctx.template, lines, question)
    for ln in rest.split("\n")[:-1]:
        key, _, val = ln.partition(": ")
        if key == "Observation":
            built += "Observation: %s\n" % react.render_observation(val)
        else:
            built += ln + "\n"
    if built != text:
        for n, (a, b) in enumerate(zip(built, text)):
            if a != b:
                raise CheckError("%s: differs at byte %d" % (path, n))
        raise CheckError("%s: lengths differ" % path)


class Ctx:
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tools", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--golden", default="")
    args = ap.parse_args()
    ctx = Ctx()
    ctx.template = react.load_template(SRCDIR)
    failures = 0
    with Tools(args.tools, os.path.join(SRCDIR, "models", "kb"),
               os.path.join(SRCDIR, "models", "eval", "tools")) as t:
        ctx.tools = t
        ctx.lines = t.prompt_lines()
        n = replayed = 0
        for split in ("train", "valid", "test"):
            with open(os.path.join(args.data, split + ".jsonl"),
                      encoding="utf-8") as f:
                for line in f:
                    rec = json.loads(line)
                    try:
                        replayed += check_episode(rec, ctx)
                    except (CheckError, ValueError) as e:
                        failures += 1
                        if failures <= 10:
                            print("check_data: %s: %s" % (rec["id"], e),
                                  file=sys.stderr)
                    n += 1
        if args.golden:
            try:
                check_golden(args.golden, ctx)
                print("check_data: %s reproduced" % args.golden)
            except (CheckError, ValueError) as e:
                failures += 1
                print("check_data: %s" % e, file=sys.stderr)
        t.close()
    print("check_data: %d episodes, %d observations replayed, %d failures"
          % (n, replayed, failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
