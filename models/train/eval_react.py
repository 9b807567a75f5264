#!/usr/bin/python3
"""eval_react.py: greedy ReAct on the held-out test split with the
project's engine and the real tools.

    eval_react.py --model FILE.gguf --infer BIN --tools BIN
                  [--eval DIR] [--families a,b] [--limit N] [--wait N]
                  [--all-builtins] [--agentctl BIN --socket PATH]
                  [--threads T] [--out FILE.jsonl]

A stand-in for the daemon's eval.run until the agent runtime has it:
each item of DIR/*.jsonl ({id, family, input, expected[, tools]}) is run
the way the runtime runs ReAct (DESIGN.md "ReAct transcript format v1"):
the prompt from the template with the item's tools (default: calc and
kb_search, the daemon's default set, or all four built-ins with
--all-builtins; invented tools come from DIR/tools/*.lua, loaded as the
daemon loads Lua tools), then up to 8 steps of greedy generation with
`agentd-infer generate --temp 0`, cut at the first "\\nObservation:" or
after the "Final Answer:" line; an action is run through
tests/tools/model-tools and its output appended as "Observation: ...\\n"
(DESIGN.md's fixed error texts for an unknown tool, an Action Input that
is not an object, invalid arguments and a repeated action).  --wait N
applies budget forcing: the first N final answers are rewound and
"Thought: Wait," is appended instead.

The generated text is cut as text and the transcript re-tokenized for the
next step; the runtime keeps the generated tokens instead, which can
differ at the cut only.  Prints per-family exact-answer accuracy and the
share of model steps that parse as valid ReAct steps; --out writes one
line per item with the transcript.

With --agentctl and --socket the items go through a running daemon
instead (`agentctl run --json` with the item's tools: the real runtime
renders, stops, parses and calls the tools); a run that ends in "error"
counts as one step that did not parse.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import react  # noqa: E402
from toolrun import Tools  # noqa: E402

# The daemon's default tools (http_get and file_read are off until
# configured); --all-builtins lists all four.
BUILTINS = ["calc", "kb_search"]
ALL_BUILTINS = ["calc", "file_read", "http_get", "kb_search"]
MAX_STEPS = 8
STEP_TOKENS = 200


def generate(infer, model, text, threads):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False,
                                     encoding="utf-8") as f:
        f.write(text)
        path = f.name
    try:
        r = subprocess.run([infer, "generate", "-m", model, "-f", path,
                            "-n", str(STEP_TOKENS), "--temp", "0",
                            "-t", str(threads)],
                           capture_output=True)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        raise RuntimeError("agentd-infer generate: %s"
                           % r.stderr.decode("utf-8", "replace").strip())
    out = r.stdout.decode("utf-8", "replace")
    if not out.startswith(text):
        raise RuntimeError("agentd-infer generate did not echo the prompt")
    return out[len(text):]


def cut_step(cont):
    """The model's text for one step, as the runtime's stop rules cut it:
    through the newline before "Observation:", or through the end of the
    "Final Answer:" line."""
    stop = cont.find("\nObservation:")
    fa = cont.find("Final Answer:")
    if fa != -1 and (fa == 0 or cont[fa - 1] == "\n") and \
            (stop == -1 or fa < stop):
        end = cont.find("\n", fa)
        return cont if end == -1 else cont[:end + 1]
    if stop != -1:
        return cont[:stop + 1]
    return cont


def run_item(item, ctx):
    names = item.get("tools") or ctx.builtins
    lines = []
    for n in names:
        if n not in ctx.lines:
            raise RuntimeError("%s: tool %s not loaded" % (item["id"], n))
        lines.append(ctx.lines[n])
    text = react.render_prompt(ctx.template, lines, item["input"])
    steps = []
    seen = set()
    answer = None
    ending = "max_steps"
    waits = 0
    for _ in range(MAX_STEPS):
        cont = generate(ctx.infer, ctx.model, text, ctx.threads)
        step_text = cut_step(cont)
        st = react.parse_step(step_text)
        steps.append({"text": step_text, "parsed": st.error is None})
        if st.error is not None:
            ending = "parse_error: " + st.error
            break
        if st.final is not None:
            if waits < ctx.wait:
                waits += 1
                text += step_text[:step_text.rfind("Final Answer:")]
                text += "Thought: Wait,"
                continue
            answer = st.final
            ending = "final_answer"
            text += step_text
            break
        key = json.dumps([st.action, st.action_input], sort_keys=True)
        if st.action not in names:
            obs = "Error: unknown tool '%s'; valid tools: %s" % (
                st.action, ", ".join(sorted(names)))
        elif not isinstance(st.action_input, dict):
            obs = "Error: Action Input is not a JSON object"
        elif key in seen:
            obs = "Error: repeated action; try something else"
        else:
            out, err = ctx.tools.call(st.action, st.action_input)
            obs = react.render_observation(out, err)
        seen.add(key)
        text += step_text + "Observation: %s\n" % obs
    return {"id": item["id"], "family": item["family"],
            "expected": item["expected"], "answer": answer,
            "exact": answer == item["expected"], "ending": ending,
            "steps": steps, "transcript": text}


def run_item_daemon(item, ctx):
    """The same item through the real daemon: `agentctl run --json` with
    the item's tools; the runtime renders, stops, parses and calls."""
    names = item.get("tools") or ctx.builtins
    r = subprocess.run([ctx.agentctl, "-s", ctx.socket, "-t", "600000",
                        "run", "--tools", ",".join(names), "--json",
                        item["input"]], capture_output=True)
    lines = r.stdout.decode("utf-8", "replace").strip().split("\n")
    try:
        res = json.loads(lines[-1])
        res = res.get("result", res)
    except ValueError:
        raise RuntimeError("%s: agentctl run: %s" % (
            item["id"], r.stderr.decode("utf-8", "replace").strip()))
    answer = res.get("answer")
    ending = res.get("ending")
    steps = [{"text": json.dumps(st), "parsed": True}
             for st in res.get("steps", [])]
    if ending == "error":
        # The model's text for the last step was not a valid step.
        steps.append({"text": json.dumps(res.get("error")),
                      "parsed": False})
    return {"id": item["id"], "family": item["family"],
            "expected": item["expected"], "answer": answer,
            "exact": answer == item["expected"], "ending": ending,
            "steps": steps, "transcript": None}


class Ctx:
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--infer", required=True)
    ap.add_argument("--tools", required=True)
    ap.add_argument("--eval", default=os.path.join(SRCDIR, "models",
                                                   "eval"))
    ap.add_argument("--kb", default=os.path.join(SRCDIR, "models", "kb"))
    ap.add_argument("--families", default="")
    ap.add_argument("--limit", type=int, default=0,
                    help="items per family (0: all)")
    ap.add_argument("--wait", type=int, default=0)
    ap.add_argument("--all-builtins", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="")
    ap.add_argument("--agentctl", default="",
                    help="run the items through a daemon instead, with "
                    "this agentctl")
    ap.add_argument("--socket", default="")
    args = ap.parse_args()

    items = []
    for path in sorted(glob.glob(os.path.join(args.eval, "*.jsonl"))):
        fam_items = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                fam_items.append(json.loads(line))
        if args.families and fam_items and \
                fam_items[0]["family"] not in args.families.split(","):
            continue
        if args.limit:
            fam_items = fam_items[:args.limit]
        items.extend(fam_items)
    ctx = Ctx()
    ctx.infer = args.infer
    ctx.model = args.model
    ctx.threads = args.threads
    ctx.wait = args.wait
    ctx.builtins = ALL_BUILTINS if args.all_builtins else BUILTINS
    ctx.template = react.load_template(SRCDIR)
    results = []
    t0 = time.time()
    with Tools(args.tools, args.kb, os.path.join(args.eval, "tools")) as t:
        ctx.tools = t
        ctx.lines = t.prompt_lines()
        ctx.agentctl = args.agentctl
        ctx.socket = args.socket
        for item in items:
            if args.agentctl:
                results.append(run_item_daemon(item, ctx))
            else:
                results.append(run_item(item, ctx))
        t.close()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            for r in results:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    fams = sorted(set(r["family"] for r in results))
    tot_ok = tot_n = tot_steps = tot_parsed = 0
    print("| family | items | exact | parse |")
    print("| --- | --- | --- | --- |")
    for fam in fams + ["all"]:
        rs = [r for r in results if fam == "all" or r["family"] == fam]
        ok = sum(r["exact"] for r in rs)
        steps = sum(len(r["steps"]) for r in rs)
        parsed = sum(s["parsed"] for r in rs for s in r["steps"])
        if fam != "all":
            tot_ok += ok
            tot_n += len(rs)
            tot_steps += steps
            tot_parsed += parsed
        print("| %s | %d | %.1f %% | %.1f %% |" % (
            fam, len(rs), 100.0 * ok / max(1, len(rs)),
            100.0 * parsed / max(1, steps)))
    print("eval: %d items in %.0f s" % (len(results), time.time() - t0),
          file=sys.stderr)


if __name__ == "__main__":
    main()
