"""A client for tests/tools/model-tools: the real built-in tools (and Lua
tools), called one request a line over a pipe."""

import json
import os
import subprocess


class ToolError(Exception):
    pass


class Tools:
    """Runs BIN KB_DIR [LUA_DIR] and talks to it."""

    def __init__(self, binary, kb_dir, lua_dir=None):
        if not os.access(binary, os.X_OK):
            raise ToolError("%s: not built (make O=... %s)" % (binary,
                                                               binary))
        argv = [binary, kb_dir] + ([lua_dir] if lua_dir else [])
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     encoding="utf-8")
        self.cache = {}

    def _ask(self, req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise ToolError("model-tools exited (status %s) on %s"
                            % (self.proc.poll(), json.dumps(req)))
        return json.loads(line)

    def prompt_lines(self):
        """{name: prompt line} of every tool."""
        lines = self._ask({"prompt": True})["lines"]
        return {line.split(":", 1)[0]: line for line in lines}

    def call(self, name, args):
        """Returns (text, is_error) as the runtime would see them, with
        DESIGN.md's fixed texts for unknown tools and invalid arguments
        (without the "Error: " prefix, which rendering adds)."""
        key = json.dumps([name, args], sort_keys=True)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        r = self._ask({"call": name, "args": args})
        if "unknown" in r:
            out = ("unknown tool '%s'" % name, True)
        elif "invalid" in r:
            if not isinstance(args, dict):
                out = ("Action Input is not a JSON object", True)
            else:
                out = ("invalid arguments for %s: %s" % (name, r["invalid"]),
                       True)
        else:
            out = (r["text"], bool(r["error"]))
        self.cache[key] = out
        return out

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            rc = self.proc.wait()
            self.proc = None
            if rc != 0:
                raise ToolError("model-tools exited with status %d" % rc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
