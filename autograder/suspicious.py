"""Flag submissions whose own code reaches for what grading keeps from it.

The jail (``jail.py``) keeps files and processes out of a kernel's reach, but a notebook's code runs
in the same Python process as the tests that grade it: hooks, tracing, frame inspection or the
grader's own package could still read or fake what the tests do. Such code has no place in an
answer, so it is cheap to spot. A flagged submission keeps its grade; the instructor reads it.

Only code the student wrote is read: the exercise cells and any cell that is not in the released
notebook (the course's own cells may use these tools legitimately).

A flag must never fire on ordinary code, so each pattern reads only where the use it names can be:
names and attributes in the code with its comments and string literals taken out (``sys.last_value``
is the last traceback, a local ``last_value`` is not; ``# the autograder checks this`` is a
comment), paths and module names in the string literals (``"/proc/self/environ"``,
``"autograder.checks"``, ``"../gradebook.db"``), and IPython's history names (``_ih``, ``_ii``)
only when the student's code does not bind them itself.
"""

import re

# A string literal (any prefix, triple or single quotes, escapes) or a comment; scanned left to
# right, so that a ``#`` inside a string and a quote inside a comment are read as what they are.
LITERAL = re.compile(r"""
    (?P<string>(?P<prefix>[rRbBuUfF]{0,2})(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"
                                         |'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
    | (?P<comment>\#[^\n]*)
""", re.VERBOSE | re.DOTALL)

MAGIC = re.compile(r"^[ \t]*[%!?].*$", re.MULTILINE)  # IPython's magics and shell lines: not Python
FSTRING_FIELD = re.compile(r"\{([^{}]*)\}")

NAMED = re.compile(r"(?<![\w.])(_ih|_iii?)\b")  # IPython's input history, unless bound by the student

# reason: (pattern over the code without comments and strings, pattern over each string literal)
PATTERNS = {
    "the grader's package": (r"\bautograder\b|\b(?:import|from)\s+nbgrader\b",
                             r"^\s*(?:autograder|nbgrader)(?:\.\w+)*\s*$|\bautograder/"),
    "frame or object introspection": (r"\b_getframe\b|\.\s*(?:f_back|f_locals|f_globals|tb_frame)\b|"
                                      r"\.\s*(?:__globals__|__closure__|co_consts)\b|"
                                      r"\binspect\s*\.\s*(?:currentframe|stack|getouterframes)\b|"
                                      r"\bgc\s*\.\s*get_(?:objects|referrers|referents)\b|"
                                      r"\bfrom\s+(?:gc|inspect)\s+import\b[^\n;]*\b(?:get_(?:objects|referrers|"
                                      r"referents)|currentframe|stack|getouterframes)\b", None),
    "tracing or audit hooks": (r"\.\s*(?:settrace|setprofile|addaudithook)\b|"
                               r"\bfrom\s+(?:sys|threading)\s+import\b[^\n;]*\b(?:settrace|setprofile|addaudithook)\b",
                               None),
    "IPython's hooks or input history": (r"\bget_ipython\b|\.\s*events\s*\.\s*register\b|"
                                         r"\.\s*(?:input_transformers\w*|ast_transformers)\b|\bIn\s*\[", None),
    "the last traceback": (r"\bsys\s*\.\s*last_(?:traceback|value|type|exc)\b|"
                           r"\bfrom\s+sys\s+import\b[^\n;]*\blast_(?:traceback|value|type|exc)\b", None),
    "other processes or the grader's files": (None, r"^/proc\b|^(?:\.\./)+proc/|gradebook\.db|[/*]gradebook\b|"
                                                    r"(?:^|/)solutions/"),
}


def student_code(notebook, released):
    """The sources of the code cells the student wrote (exercises, and cells added to the release)."""
    given = {cell.source.strip() for cell in released.cells if cell.cell_type == "code"}
    return [cell.source for cell in notebook.cells
            if cell.cell_type == "code" and not cell.metadata.get("nbgrader", {}).get("grade")
            and (cell.metadata.get("nbgrader", {}).get("solution") or cell.source.strip() not in given)]


def split(source):
    """``(code, strings)``: ``source`` with its comments and string literals blanked (each string
    becomes ``""``; an f-string keeps its ``{fields}``, which are code), and the string literals'
    contents but docstrings'. IPython's magic and shell lines are left out: they are not Python."""
    strings = []

    def blank(match):
        if match.group("comment") is not None:
            return ""
        literal = match.group("string")
        body = literal[len(match.group("prefix")):]
        quote = 3 if body[:3] in ("'''", '"""') and len(body) >= 6 else 1
        strings.append("" if alone(match) else body[quote:-quote])
        if "f" in match.group("prefix").lower():
            return '""' + " ".join(f"({field})" for field in FSTRING_FIELD.findall(strings[-1]))
        return '""'

    return LITERAL.sub(blank, MAGIC.sub("", source)), strings


def alone(match):
    """Whether the string literal of ``match`` is a statement of its own (a docstring): prose, not a
    value the code uses."""
    text, start, end = match.string, match.start(), match.end()
    line = text.rfind("\n", 0, start) + 1
    after = text[end:(text.find("\n", end) + 1 or len(text) + 1) - 1]
    continued = text[:line].rstrip()[-1:] in tuple("([{,=+\\")  # an argument or a value on a line of its own
    return not text[line:start].strip() and not after.split("#", 1)[0].strip() and not continued


def bound(code, name):
    """Whether ``code`` binds ``name`` itself: assigns it, loops over it, takes it as a parameter or
    imports it under that name. Then reading it is reading the student's own variable."""
    word = re.escape(name)
    return re.search(rf"(?<![\w.]){word}\s*(?:[-+*/%&|^@]|//|\*\*|<<|>>)?=(?!=)|"
                     rf"\bfor\b[^\n:]*?(?<![\w.]){word}\b[^\n:]*?\bin\b|"
                     rf"\b(?:def|lambda)\b[^\n:]*?[(,\s]{word}\s*[,)=:]|\bas\s+{word}\b", code) is not None


def flags(notebook, released):
    """What of ``PATTERNS`` the student's code uses, with the first text that matched."""
    code, strings = [], []
    for source in student_code(notebook, released):
        cell_code, cell_strings = split(source)
        code.append(cell_code)
        strings += cell_strings
    code = "\n".join(code)
    found = []
    for reason, (in_code, in_strings) in PATTERNS.items():
        match = re.search(in_code, code) if in_code else None
        match = match or next((m for s in strings if in_strings for m in [re.search(in_strings, s)] if m), None)
        if reason == "IPython's hooks or input history" and not match:
            match = next((m for m in NAMED.finditer(code) if not bound(code, m.group(1))), None)
        if match:
            found.append(f"{reason} ({match.group(0).strip()})")
    return found
