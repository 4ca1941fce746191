#!/usr/bin/env python3
"""Runs the SQL blocks of README.md in order, in one psql session against a
fresh database, and compares each block's output with the README's.

A fenced block whose info string is `sql` runs; `sql norun` is shown only
(server configuration, an upgrade, pg_cron). The output block, a fenced
`text` block right after it, must equal what psql prints for that block
(psql -X -q, so no command tags); an `sql` block with no output block must
print nothing. With --write, the output blocks are rewritten from the run
(for authoring: read the diff before committing it).

With --no-output (a page whose blocks show commands, not their output:
docs/operacao.pt-BR.md) a block passes when it runs without an error;
--setup FILE runs FILE first, in the same session.

Every function named in the first column of the table under "## SQL
reference" must be called in an `sql` block that runs: one more TAP line.

Usage: run_readme.py [--no-output] [--setup=FILE] PAGE.md  (PGHOST, PGPORT, PGUSER from the environment;
the database broker_seats_readme is dropped and created).
Prints TAP lines, one per block; exits 1 if any block differs.
"""
import difflib
import os
import re
import subprocess
import sys

FENCE = re.compile(r'^```(.*)$')
DB = 'broker_seats_readme'


def parse(lines):
    """Blocks as dicts: kind ('sql', 'text', other), info, start, end
    (line indexes of the fences), body."""
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            info = m.group(1).strip()
            j = i + 1
            while j < len(lines) and lines[j].rstrip('\n') != '```':
                j += 1
            blocks.append({'info': info, 'start': i, 'end': j, 'body': ''.join(lines[i + 1:j])})
            i = j + 1
        else:
            i += 1
    return blocks


def reference_functions(lines):
    """The seats.* names in the first column of the SQL reference table."""
    names, inside = [], False
    for l in lines:
        if l.startswith('## '):
            inside = l.strip() == '## SQL reference'
        elif inside and l.startswith('|'):
            cell = l.split('|')[1]
            names += re.findall(r'seats\.(\w+)', cell)
    return names


# What psql prints when a statement or one of its own commands fails.
FAILED = re.compile(r'^(ERROR|FATAL|PANIC):|^no rows returned for \\gset|^more than one row returned for \\gset'
                    r'|^invalid command|^psql:', re.M)


def psql(args, stdin=None):
    cmd = ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=0'] + args
    return subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=dict(os.environ, PGOPTIONS='', PSQLRC='/dev/null'))


def main():
    write = '--write' in sys.argv
    no_output = '--no-output' in sys.argv
    setup = [a.split('=', 1)[1] for a in sys.argv[1:] if a.startswith('--setup=')]
    path = [a for a in sys.argv[1:] if not a.startswith('--')][0]
    page = os.path.basename(path)
    with open(path, encoding='utf-8') as f:
        lines = f.readlines()
    blocks = parse(lines)
    runs = []  # (sql block, its output block or None)
    for n, b in enumerate(blocks):
        if b['info'] != 'sql':
            continue
        out = None
        if n + 1 < len(blocks) and blocks[n + 1]['info'] == 'text' and \
                all(not l.strip() for l in lines[b['end'] + 1:blocks[n + 1]['start']]):
            out = blocks[n + 1]
        runs.append((b, out))

    created = psql(['-d', 'postgres', '-c', f'DROP DATABASE IF EXISTS {DB}', '-c', f'CREATE DATABASE {DB}'])
    if created.returncode != 0:
        print(created.stdout)
        print('Bail out! cannot create the database')
        return 1
    script = ''
    for f in setup:
        with open(f, encoding='utf-8') as fh:
            script += fh.read() + '\n'
    for k, (b, _) in enumerate(runs):
        script += f'\\echo @@readme-block-{k}@@\n' + b['body']
        if not b['body'].endswith('\n'):
            script += '\n'
    script += f'\\echo @@readme-block-{len(runs)}@@\n'
    result = psql(['-d', DB], stdin=script)
    parts = re.split(r'^@@readme-block-(\d+)@@\n', result.stdout, flags=re.M)
    got = {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    if setup and FAILED.search(parts[0]):
        print(parts[0])
        print('Bail out! the setup failed')
        return 1

    names = reference_functions(lines)
    failed = 0
    print(f'1..{len(runs) + (1 if names else 0)}')
    edits = []
    for k, (b, out) in enumerate(runs):
        actual = got.get(k, '<no output: the session ended early>\n').rstrip('\n')
        actual = '\n'.join(l.rstrip() for l in actual.split('\n')).rstrip('\n')
        expected = (out['body'] if out else '').rstrip('\n')
        expected = '\n'.join(l.rstrip() for l in expected.split('\n')).rstrip('\n')
        where = f'{page}:{b["start"] + 1}'
        first = b['body'].strip().split('\n')[0][:60]
        if no_output:
            if k in got and not FAILED.search(actual):
                print(f'ok {k + 1} - {where} {first}')
            else:
                failed += 1
                print(f'not ok {k + 1} - {where} {first}')
                for l in actual.split('\n'):
                    print('# ' + l)
            continue
        if actual == expected:
            print(f'ok {k + 1} - {where} {first}')
            continue
        if write:
            edits.append((b, out, actual))
            print(f'ok {k + 1} - {where} rewritten')
            continue
        failed += 1
        print(f'not ok {k + 1} - {where} {first}')
        for l in difflib.unified_diff(expected.split('\n'), actual.split('\n'), 'README', 'psql', lineterm=''):
            print('# ' + l)
    ran = ''.join(b['body'] for b, _ in runs)
    uncalled = [n for n in names if not re.search(r'\bseats\.' + n + r'\b', ran)]
    if names and not uncalled:
        print(f'ok {len(runs) + 1} - the {len(names)} functions of the SQL reference are all called in the tour')
    elif names:
        failed += 1
        print(f'not ok {len(runs) + 1} - SQL reference functions called in no block: {uncalled}')
    if write and edits:
        for b, out, actual in sorted(edits, key=lambda e: -e[0]['start']):
            text = ['```text\n'] + [l + '\n' for l in actual.split('\n')] + ['```\n'] if actual else []
            if out:
                lines[out['start']:out['end'] + 1] = text
            elif text:
                lines[b['end'] + 1:b['end'] + 1] = ['\n'] + text
        with open(path, 'w', encoding='utf-8') as f:
            f.writelines(lines)
    psql(['-d', 'postgres', '-c', f'DROP DATABASE IF EXISTS {DB}'])
    total = len(runs) + (1 if names else 0)
    print(f'# {total - failed} of {total} checks of {page} passed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
