#!/usr/bin/env python3
"""Checks that every code snippet of a page that shows excerpts of tests
(docs/clients.md) is one: its lines, stripped of indentation, appear in
order in one file of the given test directories, with a line `...` standing
for lines left out. So a snippet cannot drift from the code that runs.

Usage: check_excerpts.py PAGE.md SOURCE [SOURCE ...]  (test directories or files)
Prints one TAP line per snippet (fenced blocks tagged python, js or sql);
exits 1 if one is not an excerpt.
"""
import os
import re
import sys

FENCE = re.compile(r'^\s*```(\w*)\s*$')
CHECKED = {'python', 'js', 'sql'}


def snippets(lines):
    """(first line number, tag, body lines) of each fenced block; fences
    may be indented (inside a list item)."""
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m and m.group(1):
            j = i + 1
            while j < len(lines) and not FENCE.match(lines[j]):
                j += 1
            out.append((i + 1, m.group(1), lines[i + 1:j]))
            i = j + 1
        else:
            i += 1
    return out


def is_excerpt(body, source):
    """Each non-`...` line of body, in order, is a line of source."""
    at = 0
    for line in body:
        want = line.strip()
        if not want or want == '...':
            continue
        while at < len(source) and source[at] != want:
            at += 1
        if at == len(source):
            return False
        at += 1
    return True


def main():
    page, dirs = sys.argv[1], sys.argv[2:]
    with open(page, encoding='utf-8') as f:
        lines = f.read().split('\n')
    sources = {}
    for d in dirs:
        paths = [os.path.join(d, n) for n in sorted(os.listdir(d))] if os.path.isdir(d) else [d]
        for path in paths:
            if os.path.isfile(path):
                with open(path, encoding='utf-8', errors='replace') as f:
                    sources[path] = [l.strip() for l in f.read().split('\n')]
    todo = [s for s in snippets(lines) if s[1] in CHECKED]
    print(f'1..{len(todo)}')
    failed = 0
    for k, (line_no, tag, body) in enumerate(todo, 1):
        where = f'{os.path.basename(page)}:{line_no}'
        found = [p for p, src in sources.items() if is_excerpt(body, src)]
        if found:
            print(f'ok {k} - {where} ({tag}) is an excerpt of {found[0]}')
        else:
            failed += 1
            print(f'not ok {k} - {where} ({tag}) is in none of {", ".join(dirs)}')
            for l in body:
                print('# ' + l)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
