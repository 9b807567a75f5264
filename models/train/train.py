#!/usr/bin/python3
"""train.py: trains the bundled MoE model on the generated episodes.

    train.py --data DIR --work DIR [--seed N] [--steps N]
             [--drill-steps N] [--drill-coef C] [--drill-sums N]
             [--quick] [--resume] [--threads 2]

Reads DIR/{train,valid}.jsonl and DIR/tokenizer.json, writes into the
work folder: ckpt.pt (the latest checkpoint: weights, optimiser, data
order and random states; --resume continues from it, bit for bit on the
same machine and thread count), model.pt (the final weights and config),
train-log.jsonl (one line per logged step: loss, aux loss, learning rate,
and validation loss every --eval-every steps).

Loss: cross-entropy on the tokens the model writes (trained segments and
the end-of-text token after the final answer), none on the prompt, the
observations or the runtime's "Thought: Wait,"; plus aux_coef times the
load-balancing loss.  The rows of a batch that share a prompt compute it
once (Model.forward's prefix): episodes are batched by prompt when their
prompt (the tool list) is a common one, and the rest (invented tool
lists) go in batches of their own without sharing.

Copy warm-up: the first --copy-warmup steps train on the copy task
alone (copy_batch(): a run of distinct tokens, then the same run again),
which grows the induction heads that copying numbers and names needs.
A model this small at this learning rate sits for thousands of steps on
the plateau before them when it learns from the episodes alone (the
copies there are few, short and far apart); on the copy task they form
in a few hundred cheap steps.  After the warm-up the copy task stays in
every step with weight --copy-coef, over the whole vocabulary.

Curriculum: for the next --curriculum steps the common-prompt episodes
are trained with the prompt cut to "Question:" (BOS, then the question
and the steps).  Copying a number or a name from the question or an
observation is most of what this model must learn, and a small model
finds the attention pattern for it many times faster when a few dozen
keys compete rather than three hundred; RoPE makes the pattern relative,
so it carries over to the full prompt of the main phase.

Addition drill: after the --steps of the main phase come --drill-steps
more with the same episodes plus, in every step, a drill batch weighted
--drill-coef (add_batch()): rows of scratchpad columns ("7 + 5 + 1 = 13,
write 3 carry 1."), trained on what follows each "=", and --drill-sums
rows of whole tool-free sums after the curriculum's short prompt.  The
episodes hold too few of either for the model to learn the table of
one-digit sums and where to read a column's digits: after the main
phase alone it writes "4 + 3 = 8" and gets almost no tool-free sum
right.  The cosine is recomputed over the longer run, so the rate
climbs back and decays again.

--quick trains a tiny model for a few steps: a test of the pipeline,
not a usable model.
"""

import os

# Threads that wait sleep instead of spinning: the training shares two
# cores with other work.  Must be set before torch starts OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bpe  # noqa: E402
import phrasing  # noqa: E402
from gen_data import FINAL_THOUGHT, scratchpad, sum_operands  # noqa: E402
from model import Config, Model  # noqa: E402

FULL = Config(n_vocab=0, n_embd=128, n_layer=4, n_head=4, n_kv_head=2,
              n_expert=4, n_expert_used=2, n_ff=256, n_ctx=1024)
QUICK = Config(n_vocab=0, n_embd=64, n_layer=2, n_head=2, n_kv_head=1,
               n_expert=4, n_expert_used=2, n_ff=128, n_ctx=1024)
PREFIX_END = "\nQuestion:"


def encode_record(tok, rec):
    """(prefix text, ids, mask) of an episode: the prompt up to and
    including "Question:" is the prefix; ids/mask cover the rest, mask 1
    where the model is trained.  The cut lies on a pre-token boundary, so
    prefix + rest tokenise exactly as the whole text does."""
    prompt = rec["segments"][0][0]
    cut = prompt.index(PREFIX_END) + len(PREFIX_END)
    ids, mask = [], []
    for text, trained in [[prompt[cut:], 0]] + rec["segments"][1:]:
        t = tok.encode(text)
        ids.extend(t)
        mask.extend([trained] * len(t))
    ids.append(tok.eot)
    mask.append(1)
    return prompt[:cut], ids, mask


def load_split(path, tok, limit=None):
    recs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            recs.append(json.loads(line))
            if limit is not None and len(recs) >= limit:
                break
    out = []
    prefixes = {}
    for r in recs:
        ptext, ids, mask = encode_record(tok, r)
        if ptext not in prefixes:
            # BOS first, as the engine adds it (add_bos_token).
            prefixes[ptext] = [tok.eot] + tok.encode(ptext)
        out.append((ptext, ids, mask))
    # The cut must not change the tokens (checked on a sample).
    for r, (ptext, ids, _) in list(zip(recs, out))[:50]:
        whole = tok.encode("".join(s[0] for s in r["segments"]))
        if [tok.eot] + whole != prefixes[ptext] + ids[:-1]:
            raise SystemExit("train: %s: prefix cut changes the tokens"
                             % r["id"])
    return out, prefixes


class Batches:
    """The training order: batches of (shared, item indices).  Episodes
    whose prompt at least 4 batches share go in batches of one prompt,
    computed once per batch (shared); the rest in batches of half the
    size, each row with its own prompt."""

    def __init__(self, items, shared_prefixes, batch, seed):
        self.items = items
        self.shared = shared_prefixes
        self.batch = batch
        self.rng = random.Random(seed)
        self.epoch = 0
        self.order = []

    def _refill(self):
        groups = {}
        other = []
        for i, it in enumerate(self.items):
            if it[0] in self.shared:
                groups.setdefault(it[0], []).append(i)
            else:
                other.append(i)
        batches = []
        todo = [(True, groups[k], self.batch) for k in sorted(groups)]
        todo.append((False, other, max(1, self.batch // 2)))
        for shared, group, size in todo:
            self.rng.shuffle(group)
            # Sort within windows of 32 batches by length: less padding.
            win = size * 32
            for w in range(0, len(group), win):
                chunk = sorted(group[w:w + win],
                               key=lambda i: len(self.items[i][1]))
                for b in range(0, len(chunk), size):
                    batches.append((shared, chunk[b:b + size]))
        self.rng.shuffle(batches)
        self.order = batches
        self.epoch += 1

    def next(self):
        if not self.order:
            self._refill()
        return self.order.pop()

    def next_shared(self):
        """The next batch of a shared prompt (the curriculum draws only
        these; the others wait for the main phase)."""
        while True:
            if not self.order:
                self._refill()
            for k in range(len(self.order) - 1, -1, -1):
                if self.order[k][0]:
                    return self.order.pop(k)
            self.order = []

    def state(self):
        return {"rng": self.rng.getstate(), "epoch": self.epoch,
                "order": self.order}

    def load(self, st):
        self.rng.setstate(st["rng"])
        self.epoch = st["epoch"]
        self.order = st["order"]


def make_batch(items, prefixes, shared, idx, short=None):
    """Tensors for one batch: (prefix or None, ids, targets, weights,
    lengths).  short: a prefix to use instead of the episodes' own (the
    curriculum's)."""
    rows = []
    for i in idx:
        ptext, ids, mask = items[i]
        if shared:
            rows.append((ids, mask))
        else:
            p = prefixes[ptext]
            rows.append((p + ids, [0] * len(p) + mask))
    T = max(len(r[0]) for r in rows)
    B = len(rows)
    ids = torch.zeros(B, T, dtype=torch.long)
    w = torch.zeros(B, T)
    lengths = torch.zeros(B, dtype=torch.long)
    for b, (r, m) in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r)
        w[b, :len(m)] = torch.tensor(m, dtype=torch.float32)
        lengths[b] = len(r)
    prefix = None
    if shared:
        prefix = torch.tensor(prefixes[items[idx[0]][0]] if short is None
                              else short)
    # Position t predicts token t + 1.
    return prefix, ids, ids[:, 1:], w[:, 1:], lengths


def copy_batch(tok, rows, seed, step, pool_size=0):
    """The copy task: rows [eot] + s + s with s a run of 6 to 24
    distinct tokens, trained on the second s but its first token, which
    is exactly what an induction head does.  The tokens are drawn from
    the first pool_size of (digits, then other printable tokens), or
    from all of them when pool_size is 0: a small pool first, so that
    the attention pattern forms before the copying of each of the
    thousand tokens has to.  Drawn from (seed, step), so a resumed run
    draws the same rows."""
    if not hasattr(tok, "_copy_pool"):
        digits, words = [], []
        for i in range(tok.n_vocab):
            if i == tok.eot:
                continue
            piece = tok.decode([i])
            if piece.strip().isdigit():
                digits.append(i)
            elif piece.strip() and piece.isprintable():
                words.append(i)
        tok._copy_pool = digits + words
    pool = tok._copy_pool[:pool_size] if pool_size else tok._copy_pool
    rng = random.Random((seed << 32) ^ step)
    out = []
    for _ in range(rows):
        n = rng.randint(6, min(24, len(pool)))
        s = rng.sample(pool, n)
        out.append(([tok.eot] + s + s, [0] * (n + 2) + [1] * (n - 1)))
    return pack_rows(out)


def pack_rows(out):
    """A batch without a shared prefix from rows of (ids, mask)."""
    rows = len(out)
    T = max(len(r) for r, _ in out)
    ids = torch.zeros(rows, T, dtype=torch.long)
    w = torch.zeros(rows, T)
    lengths = torch.zeros(rows, dtype=torch.long)
    for b, (r, m) in enumerate(out):
        ids[b, :len(r)] = torch.tensor(r)
        w[b, :len(m)] = torch.tensor(m, dtype=torch.float32)
        lengths[b] = len(r)
    return None, ids, ids[:, 1:], w[:, 1:], lengths


ADD_HEAD = "Thought: I add the digits from the right."


def add_clause(rng):
    """One column of the scratchpad (gen_data.scratchpad's wording):
    (operands text, result text).  Two or three digits, sometimes a
    carry of 1 or 2 after them.  Never a last column ("= 15, write
    15."): only the episode shows which column is the last."""
    terms = [rng.randint(0, 9) for _ in range(2 if rng.random() < 0.6
                                              else 3)]
    if rng.random() < 0.5:
        terms.append(rng.randint(1, 2 if len(terms) == 3 else 1))
    s = sum(terms)
    if s < 10:
        res = " %d, write %d." % (s, s)
    else:
        res = " %d, write %d carry %d." % (s, s % 10, s // 10)
    return " " + " + ".join(str(t) for t in terms) + " =", res


def sum_row(tok, rng):
    """A tool-free sum as gen_data writes it, after the curriculum's
    short prompt: (ids, mask), trained on the scratchpad and the
    answer."""
    nums, e, lst = sum_operands(rng)
    ids = [tok.eot] + tok.encode("Question:")
    mask = [0] * len(ids)
    for text, trained in [(" %s\n" % phrasing.sums_question(rng, e, lst), 0),
                          ("Thought: %s\n" % scratchpad(nums), 1),
                          ("Thought: %s\n" % FINAL_THOUGHT, 1),
                          ("Final Answer: %d\n" % sum(nums), 1)]:
        t = tok.encode(text)
        ids += t
        mask += [trained] * len(t)
    return ids + [tok.eot], mask + [1]


def add_batch(tok, rows, seed, step, clauses=6, sums=0):
    """The addition drill: rows of scratchpad columns ("7 + 5 + 1 = 13,
    write 3 carry 1.") trained on what follows each "=", and, in sums of
    the rows, whole tool-free sums (sum_row()): reading the digits of a
    column off the question is the other half of it.  The episodes hold
    too few of either for a model this small.  Drawn from (seed,
    step)."""
    rng = random.Random((seed << 32) ^ step ^ 0x5eed)
    out = [sum_row(tok, rng) for _ in range(min(sums, rows))]
    for _ in range(rows - len(out)):
        ids = [tok.eot] + tok.encode(ADD_HEAD)
        mask = [0] * len(ids)
        for _ in range(clauses):
            ops, res = add_clause(rng)
            a, b = tok.encode(ops), tok.encode(res)
            ids += a + b
            mask += [0] * len(a) + [1] * len(b)
        out.append((ids, mask))
    return pack_rows(out)


def batch_loss(model, batch):
    prefix, ids, tgt, w, lengths = batch
    logits, aux = model(ids, lengths, prefix)
    lp = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                         tgt.reshape(-1), reduction="none")
    wf = w.reshape(-1)
    n = wf.sum()
    return (lp * wf).sum() / n.clamp(min=1), aux, n


def evaluate(model, items, prefixes, shared_prefixes, limit):
    """Mean loss per trained token over the first limit items."""
    model.eval()
    tot, cnt = 0.0, 0.0
    sel = list(range(min(limit, len(items))))
    groups = {}
    for j in sel:
        key = items[j][0] if items[j][0] in shared_prefixes else None
        groups.setdefault(key, []).append(j)
    with torch.no_grad():
        for key in sorted(groups, key=lambda k: (k is None, k or "")):
            group = groups[key]
            size = 8 if key is None else 16
            for j in range(0, len(group), size):
                b = make_batch(items, prefixes, key is not None,
                               group[j:j + size])
                loss, _, n = batch_loss(model, b)
                tot += float(loss) * float(n)
                cnt += float(n)
    model.train()
    return tot / max(cnt, 1.0)


def lr_at(step, steps, peak, warmup, decay):
    """Warm-up, then the peak rate, then over the last decay share of
    the steps a cosine down to a tenth of it.  Until the decay starts the
    rate does not depend on the number of steps, so a run resumed with
    more steps matches one started with them."""
    if step < warmup:
        return peak * (step + 1) / warmup
    start = int(steps * (1 - decay))
    if step < start:
        return peak
    p = (step - start) / max(1, steps - start)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(p, 1))))


def save_atomic(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=4400)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--decay", type=float, default=0.25,
                    help="share of the steps in the final decay")
    ap.add_argument("--curriculum", type=int, default=500,
                    help="steps after the copy warm-up on common-prompt "
                    "episodes with the prompt cut to its question")
    ap.add_argument("--copy-warmup", type=int, default=800,
                    help="first steps on the copy task alone")
    ap.add_argument("--copy-pool", type=int, default=64,
                    help="tokens the warm-up's copy task draws from")
    ap.add_argument("--copy-coef", type=float, default=0.5,
                    help="weight of the copy task after the warm-up "
                    "(0: none)")
    ap.add_argument("--drill-steps", type=int, default=800,
                    help="steps after --steps with the addition drill")
    ap.add_argument("--drill-coef", type=float, default=1.0,
                    help="weight of the addition drill in those steps")
    ap.add_argument("--drill-sums", type=int, default=4,
                    help="rows of the drill that are whole sums")
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--aux-coef", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-items", type=int, default=160)
    ap.add_argument("--ckpt-every", type=int, default=50)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    os.makedirs(args.work, exist_ok=True)
    tok = bpe.Tokenizer.load(os.path.join(args.data, "tokenizer.json"))
    limit = 400 if args.quick else None
    train_items, train_pre = load_split(
        os.path.join(args.data, "train.jsonl"), tok, limit)
    valid_items, valid_pre = load_split(
        os.path.join(args.data, "valid.jsonl"), tok, limit)
    prefixes = dict(train_pre)
    prefixes.update(valid_pre)
    counts = {}
    for it in train_items:
        counts[it[0]] = counts.get(it[0], 0) + 1
    shared_set = set(k for k, n in counts.items() if n >= 4 * args.batch)

    base = QUICK if args.quick else FULL
    cfg = Config(**dict(base.to_dict(), n_vocab=tok.n_vocab))
    longest = max(len(prefixes[p]) + len(ids)
                  for p, ids, _ in train_items + valid_items)
    if longest > cfg.n_ctx:
        raise SystemExit("train: an episode has %d tokens, more than the "
                         "context %d" % (longest, cfg.n_ctx))
    if args.quick:
        args.steps = min(args.steps, 40)
        args.drill_steps = min(args.drill_steps, 10)
        args.eval_every = 20
        args.eval_items = 32
        args.batch = 8
        args.warmup = 10
        args.curriculum = 10
        args.copy_warmup = 10
    model = Model(cfg)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    batches = Batches(train_items, shared_set, args.batch, args.seed)
    ckpt_path = os.path.join(args.work, "ckpt.pt")
    log_path = os.path.join(args.work, "train-log.jsonl")
    step = 0
    elapsed = 0.0
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        if ck["config"] != cfg.to_dict():
            raise SystemExit("train: %s was made with another config"
                             % ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        batches.load(ck["batches"])
        torch.set_rng_state(ck["torch_rng"])
        step = ck["step"]
        elapsed = ck["elapsed"]
        print("train: resumed at step %d" % step, flush=True)
        # Keep the log in step with the checkpoint.
        if os.path.exists(log_path):
            with open(log_path) as f:
                keep = [ln for ln in f if json.loads(ln)["step"] <= step]
            with open(log_path, "w") as f:
                f.writelines(keep)
    elif os.path.exists(log_path):
        os.unlink(log_path)
    print("train: %d parameters, %d train / %d valid episodes, vocab %d, "
          "%d + %d drill steps of %d"
          % (model.n_params(), len(train_items), len(valid_items),
             tok.n_vocab, args.steps, args.drill_steps, args.batch),
          flush=True)

    # The curriculum's prompt: the question alone, without the tool list
    # and format lines.
    short = [tok.eot] + tok.encode(PREFIX_END.lstrip("\n"))
    model.train()
    t0 = time.time() - elapsed
    run_loss = run_aux = run_copy = run_add = 0.0
    run_n = run_copy_n = run_add_n = 0
    total_steps = args.steps + args.drill_steps
    while step < total_steps:
        # The drill phase recomputes the cosine over the longer run: the
        # rate climbs back (to about 7e-4 for 4400 + 800) and decays to
        # a tenth of the peak again.
        lr = lr_at(step, args.steps if step < args.steps else total_steps,
                   args.lr, args.warmup, args.decay)
        for g in opt.param_groups:
            g["lr"] = lr
        if step < args.copy_warmup:
            loss, aux, _ = batch_loss(model, copy_batch(
                tok, args.batch, args.seed, step, args.copy_pool))
            total = loss + args.aux_coef * aux
            run_copy += float(loss)
            run_copy_n += 1
        else:
            if step < args.copy_warmup + args.curriculum:
                shared, idx = batches.next_shared()
                b = make_batch(train_items, prefixes, shared, idx, short)
            else:
                shared, idx = batches.next()
                b = make_batch(train_items, prefixes, shared, idx)
            loss, aux, _ = batch_loss(model, b)
            total = loss + args.aux_coef * aux
            if args.copy_coef > 0:
                closs, caux, _ = batch_loss(model, copy_batch(
                    tok, max(1, args.batch // 2), args.seed, step))
                total = total + args.copy_coef * (
                    closs + args.aux_coef * caux)
                run_copy += float(closs)
                run_copy_n += 1
        if step >= args.steps and args.drill_coef > 0:
            aloss, aaux, _ = batch_loss(model, add_batch(
                tok, max(1, args.batch // 2), args.seed, step,
                sums=args.drill_sums))
            total = total + args.drill_coef * (aloss + args.aux_coef * aaux)
            run_add += float(aloss)
            run_add_n += 1
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step > args.copy_warmup:
            run_loss += float(loss)
            run_aux += float(aux)
            run_n += 1
        rec = None
        if step % args.log_every == 0 or step == total_steps:
            rec = {"step": step, "lr": lr, "epoch": batches.epoch,
                   "elapsed_s": round(time.time() - t0, 1)}
            if run_n:
                rec["loss"] = round(run_loss / run_n, 5)
                rec["aux"] = round(run_aux / run_n, 5)
            if run_copy_n:
                rec["copy_loss"] = round(run_copy / run_copy_n, 5)
            if run_add_n:
                rec["add_loss"] = round(run_add / run_add_n, 5)
            run_loss = run_aux = run_copy = run_add = 0.0
            run_n = run_copy_n = run_add_n = 0
        if (step % args.eval_every == 0 and step > args.copy_warmup) or \
                step == total_steps:
            rec = rec or {"step": step}
            rec["valid_loss"] = round(evaluate(
                model, valid_items, prefixes, shared_set, args.eval_items),
                5)
        if rec is not None:
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            print("train: %s" % json.dumps(rec), flush=True)
        if step % args.ckpt_every == 0 or step == total_steps:
            save_atomic({"model": model.state_dict(),
                         "opt": opt.state_dict(),
                         "batches": batches.state(),
                         "torch_rng": torch.get_rng_state(),
                         "step": step, "elapsed": time.time() - t0,
                         "config": cfg.to_dict(), "args": vars(args)},
                        ckpt_path)
    save_atomic({"model": model.state_dict(), "config": cfg.to_dict(),
                 "steps": step, "seed": args.seed},
                os.path.join(args.work, "model.pt"))
    print("train: done, %d steps in %.0f s" % (step, time.time() - t0))


if __name__ == "__main__":
    main()
