#!/usr/bin/env python3
"""Runs the README's tour of the demo as a reader would, and fails on a failed call or a
commented output that is not what the call printed.

usage: readme_tour.py README BINARY PORT

The shell blocks of the section "A tour of the demo" run in order, in one bash session (so the
`token` function and the variables they set carry on), in a scratch directory holding a link to
the repository's `examples/`. What differs from a reader's terminal, and why:
- `cargo run --` is the built BINARY (the scratch directory has no Cargo.toml; the server it
  starts is stopped when the tour ends);
- the demo listens on PORT, not 8080 (`--bind` is added, every `127.0.0.1:8080` replaced), so
  the check never meets a server already running there, and is started in the background;
- `ESMA_WEBHOOK_DISPATCH=0`: the tour subscribes a made-up https receiver, and nothing is sent
  off this machine;
- `curl` is `curl --fail-with-body`: a call answered 4xx or 5xx fails its step (bash pipefail),
  unless the README says the refusal is the point: a note `<- 4NN` on its output (curl's exit
  22 is then expected, and the body is still compared).

A step is a run of command lines; the comment lines right after it (`# ...`) are what it should
print. They are compared with whitespace removed: `...` stands for anything, the rest must
appear in that order, from the first character unless the comment starts with `...` and to the
last unless it ends with `...`. Text after `<-` is a note to the reader, not output.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile


def tour_blocks(readme):
    text = open(readme).read()
    start = text.index("## A tour of the demo")
    end = text.index("\n## ", start + 1)
    return re.findall(r"```sh\n(.*?)```", text[start:end], re.S)


def steps(block):
    """(command lines, expected comment lines) in order."""
    out, cmd, expected = [], [], []
    for line in block.splitlines():
        if line.lstrip().startswith("#") and cmd:
            expected.append(line.lstrip()[1:])
        elif line.strip():
            if expected:
                out.append((cmd, expected))
                cmd, expected = [], []
            cmd.append(line)
    if cmd:
        out.append((cmd, expected))
    return out


def matches(expected_lines, actual):
    expected = "".join(line.split("<-")[0] for line in expected_lines)
    expected = re.sub(r"\s+", "", expected)
    actual = re.sub(r"\s+", "", actual)
    if not expected:
        return True
    parts = expected.split("...")
    if len(parts) == 1:
        return expected == actual
    head, middle, tail = parts[0], parts[1:-1], parts[-1]
    if not actual.startswith(head):
        return False
    pos = len(head)
    for part in middle:
        found = actual.find(part, pos)
        if found < 0:
            return False
        pos = found + len(part)
    return actual.endswith(tail) and len(actual) - len(tail) >= pos

def main():
    readme, binary, port = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
    root = os.path.dirname(readme)
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", int(port))) == 0:
            sys.exit(f"port {port} is in use: the tour needs its own fresh demo there")
    work = tempfile.mkdtemp(prefix="readme-tour-")
    os.symlink(os.path.join(root, "examples"), os.path.join(work, "examples"))
    all_steps = [s for block in tour_blocks(readme) for s in steps(block)]
    script = [
        "set -o pipefail",
        'trap \'[ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null\' EXIT',
        "curl() { command curl --fail-with-body \"$@\"; }",
        "export ESMA_WEBHOOK_DISPATCH=0 NO_COLOR=1",
    ]
    for i, (cmd, _) in enumerate(all_steps):
        text = "\n".join(cmd).replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        text = re.sub(r"^cargo run -- ", f"{binary} ", text, flags=re.M)
        if re.search(rf"^{re.escape(binary)} serve", text, re.M):
            text = re.sub(rf"^({re.escape(binary)} serve.*)$",
                          rf"\1 --bind 127.0.0.1:{port} >serve.out 2>serve.err & SERVER_PID=$!\n"
                          rf"for _ in $(seq 1 120); do command curl -sf http://127.0.0.1:{port}/health >/dev/null && break; sleep 0.5; done",
                          text, flags=re.M)
        script.append(f"{{\n{text}\n}} >step{i}.out 2>step{i}.err; echo $? >step{i}.rc")
    open(os.path.join(work, "tour.sh"), "w").write("\n".join(script) + "\n")
    subprocess.run(["bash", "tour.sh"], cwd=work, timeout=600)

    failures = 0
    for i, (cmd, expected) in enumerate(all_steps):
        read = lambda ext: open(os.path.join(work, f"step{i}.{ext}")).read() if os.path.exists(
            os.path.join(work, f"step{i}.{ext}")) else ""
        rc, out, err = read("rc").strip(), read("out"), read("err")
        first = cmd[0].strip()[:100]
        problem = None
        refusal = any(re.search(r"<-\s*4\d\d", e) for e in expected)
        if refusal and rc != "22":
            problem = f"exit {rc or '?'}: the README says this call is refused"
        elif rc != "0" and not refusal:
            problem = f"exit {rc or '?'}"
        elif not matches(expected, out):
            problem = "printed something else than the README says"
        print(f"{'FAIL' if problem else 'ok  '} step {i + 1}: {first}")
        if problem:
            failures += 1
            print(f"  {problem}\n  README:  {' '.join(e.strip() for e in expected)[:1500]}"
                  f"\n  printed: {out.strip()[:1500]}\n  stderr:  {err.strip()[:600]}")
    print(f"README tour: {len(all_steps) - failures} passed, {failures} failed")
    if failures:
        serve_err = os.path.join(work, "serve.err")
        if os.path.exists(serve_err):
            print("server stderr (tail):\n" + "".join(open(serve_err).readlines()[-20:]))
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
