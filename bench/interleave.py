#!/usr/bin/env python3
"""Interleaved A/B timing of whole commands, for changes smaller than this
VM's drift: its timings move by 30-40% between minutes (openssl's own issue
went from 5.7 to 9.3 ms within one session), so timing A for a minute and
then B compares two machines. This runs A, B, C, A, B, C, ... and reports
each command's median, so every command sees the same machine.

    python3 bench/interleave.py [--tsv JOB] WORKDIR RUNS NAME='COMMAND ...' [NAME='...' ...]

Compare binaries copied at the same time (cp old new; cp target/release/
minica new2): how long a file has been in the page cache, and how it got
there, changes the page faults it takes to start (174 against 202 for two
copies of one binary here), which is more than many changes being measured.

Each command runs in WORKDIR (it must exist) with stdout and stderr to
/dev/null; before each run, everything named out* in WORKDIR is removed
(use --out-dir out, -keyout out-key.pem, ... in the commands). Leading
VAR=value words set environment variables for that command only:

    python3 bench/interleave.py /tmp/w 100 \\
        new='target/release/minica issue a.test --out-dir out -q' \\
        old='MINICA_CA_DIR=/tmp/w/ca2 /tmp/minica-old issue a.test --out-dir out -q'
"""
import glob
import os
import shlex
import shutil
import statistics
import sys
import time


def main():
    args = sys.argv[1:]
    # --tsv JOB: one line per command, "JOB<TAB>NAME<TAB>median ms", for
    # bench/compare.sh's table.
    tsv = None
    if args[:1] == ["--tsv"]:
        tsv, args = args[1], args[2:]
    if len(args) < 3:
        sys.exit(__doc__)
    workdir, runs = args[0], int(args[1])
    os.chdir(workdir)
    commands = []
    for arg in args[2:]:
        name, command = arg.split("=", 1)
        words = shlex.split(command)
        env = dict(os.environ)
        while words and "=" in words[0] and not words[0].startswith(("/", ".")):
            key, value = words.pop(0).split("=", 1)
            env[key] = value
        words[0] = shutil.which(words[0]) or words[0]
        commands.append((name, words, env))
    times = {name: [] for name, _, _ in commands}
    null = os.open(os.devnull, os.O_RDWR)
    warmup = 3
    for i in range(warmup + runs):
        for name, words, env in commands:
            for path in glob.glob("out*"):
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.remove(path)
            start = time.perf_counter()
            pid = os.posix_spawn(words[0], words, env, file_actions=[
                (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
            _, status = os.waitpid(pid, 0)
            elapsed = time.perf_counter() - start
            if status != 0:
                sys.exit(f"{name} failed (status {status}): {shlex.join(words)}")
            if i >= warmup:
                times[name].append(elapsed * 1000)
    for name, _, _ in commands:
        t = sorted(times[name])
        if tsv is not None:
            print(f"{tsv}\t{name}\t{statistics.median(t):.2f}")
            continue
        print(f"{name:14s} median {statistics.median(t):7.2f} ms   "
              f"p25 {t[len(t) // 4]:7.2f}   p75 {t[3 * len(t) // 4]:7.2f}")


if __name__ == "__main__":
    main()
