#!/usr/bin/env python3
"""Small helpers for scripts/bench (standard library only).

  bench_tool.py merge-config BASE.json TRYIT_LINE_FILE OUT.json   deep-merge the simulator's try-it JSON
  bench_tool.py wrk2json < wrk-output                            wrk's WRKJSON line -> the load client's shape
  bench_tool.py get FILE_OR_- PATH [DEFAULT]                      print one field (dotted path) of a JSON object
  bench_tool.py frontier-stop RESULT_JSON BOUND_US BEST_RPS       exit 0 when this level is past the bound
                                                                  or adds under 3 % to the best rate so far
  bench_tool.py set-procs N < JSON                                the JSON object with "procs": N added
  bench_tool.py machine                                           one JSON object describing the machine
"""
import json
import os
import platform
import sys


def deep_merge(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = deep_merge(a[k], v) if k in a else v
        return out
    return b


def merge_config(base, tryit, out):
    with open(base) as f:
        cfg = json.load(f)
    with open(tryit) as f:
        line = f.readline()
    cfg = deep_merge(cfg, json.loads(line))
    with open(out, "w") as f:
        json.dump(cfg, f, indent=2)


def wrk2json(text):
    """wrk prints our Lua done() line 'WRKJSON {...}'; reshape it like orchids-load's `load` mode."""
    for line in text.splitlines():
        if line.startswith("WRKJSON "):
            w = json.loads(line[len("WRKJSON "):])
            secs = max(w["duration_us"], 1) / 1e6
            errors = {k: w[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts") if w[k]}
            total = sum(errors.values())
            ok = max(w["requests"] - w["status_errors"], 0)
            return {
                "mode": "load", "tool": "wrk", "concurrency": w.get("connections"), "ok": ok,
                "elapsed_s": secs, "rps": ok / secs,
                "latency": {"count": w["requests"], "mean_us": w["mean_us"], "p50_us": w["p50_us"],
                            "p90_us": w["p90_us"], "p99_us": w["p99_us"], "max_us": w["max_us"]},
                "errors": {"total": total, "by_kind": errors, "first": None},
            }
    tail = text.strip().splitlines()[-3:]
    return {"mode": "load", "tool": "wrk", "ok": 0, "rps": 0, "latency": {}, "errors": {"total": 1, "by_kind": {"wrk": 1}, "first": " | ".join(tail)}}


def get(obj, path, default=""):
    cur = obj
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return default
    if cur is None:
        return default
    return cur


def machine():
    model, cores = "unknown", os.cpu_count() or 0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {"cpu_model": model, "cores": cores, "kernel": platform.release(), "mem_gib": round(mem_kib / 1048576, 1),
            "cpuidle_driver": read_first("/sys/devices/system/cpu/cpuidle/current_driver"),
            "halt_poll_ns": as_int(read_first(HALT_POLL_NS))}


# A KVM guest's idle polling (the cpuidle-haltpoll driver): how long an idle vCPU polls before it
# halts. It decides how fast an idle core wakes for the next packet (docs/benchmarks.md).
HALT_POLL_NS = "/sys/module/haltpoll/parameters/guest_halt_poll_ns"


def read_first(path):
    try:
        with open(path) as f:
            return f.read().strip() or None
    except OSError:
        return None


def as_int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd = argv[1]
    if cmd == "merge-config":
        merge_config(argv[2], argv[3], argv[4])
    elif cmd == "wrk2json":
        print(json.dumps(wrk2json(sys.stdin.read())))
    elif cmd == "get":
        src = sys.stdin.read() if argv[2] == "-" else open(argv[2]).read()
        try:
            obj = json.loads(src)
        except ValueError:
            obj = {}
        v = get(obj, argv[3], argv[4] if len(argv) > 4 else "")
        print(json.dumps(v) if isinstance(v, (dict, list)) else v)
    elif cmd == "frontier-stop":
        r = json.loads(argv[2])
        bound = float(argv[3])
        best = float(argv[4]) if len(argv) > 4 else 0.0
        p99 = get(r, "latency.p99_us", 0) or 0
        errs = get(r, "errors.total", 0) or 0
        no_gain = (r.get("rps") or 0) < best * 1.03
        sys.exit(0 if (errs > 0 or p99 > bound or not r.get("ok") or no_gain) else 1)
    elif cmd == "set-procs":
        try:
            obj = json.loads(sys.stdin.read())
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            obj = {"errors": {"total": 1, "by_kind": {"client": 1}, "first": "the load client printed no JSON object"}}
        obj["procs"] = int(argv[2])
        print(json.dumps(obj))
    elif cmd == "machine":
        print(json.dumps(machine()))
    else:
        sys.exit(f"unknown command {cmd!r}\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv)
