"""Flag submissions whose own code reaches for what grading keeps from it.

The jail (``jail.py``) keeps files and processes out of a kernel's reach, but a notebook's code runs
in the same Python process as the tests that grade it: hooks, tracing, frame inspection or the
grader's own package could still read or fake what the tests do. Such code has no place in an
answer, so it is cheap to spot. A flagged submission keeps its grade; the instructor reads it.

Only code the student wrote is read: the exercise cells and any cell that is not in the released
notebook (the course's own cells may use these tools legitimately).
"""

import re

PATTERNS = {
    "the grader's package": r"\bautograder\b|\bload_reference\b",
    "frame or object introspection": r"\b_getframe\b|\bf_back\b|\bf_locals\b|\bf_globals\b|__globals__|"
                                     r"__closure__|\bco_consts\b|\bgc\.get_(objects|referrers|referents)\b",
    "tracing or audit hooks": r"\bsettrace\b|\bsetprofile\b|\baddaudithook\b",
    "IPython's hooks or input history": r"\bget_ipython\b|\bevents\.register\b|\binput_transformers\w*|"
                                        r"\b_ih\b|\bIn\s*\[|\b_iii?\b",
    "the last traceback": r"\blast_(traceback|value|type|exc)\b",
    "other processes or the grader's files": r"/proc/|gradebook|\bsolutions/",
}


def student_code(notebook, released):
    """The sources of the code cells the student wrote (exercises, and cells added to the release)."""
    given = {cell.source.strip() for cell in released.cells if cell.cell_type == "code"}
    return [cell.source for cell in notebook.cells
            if cell.cell_type == "code" and not cell.metadata.get("nbgrader", {}).get("grade")
            and (cell.metadata.get("nbgrader", {}).get("solution") or cell.source.strip() not in given)]


def flags(notebook, released):
    """What of ``PATTERNS`` the student's code uses, with the first text that matched."""
    code = "\n".join(student_code(notebook, released))
    found = []
    for reason, pattern in PATTERNS.items():
        match = re.search(pattern, code)
        if match:
            found.append(f"{reason} ({match.group(0)})")
    return found

