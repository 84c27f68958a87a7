"""nbgrader preprocessors of the grader's: output size, and the seal kept out of feedback.

``LimitOutputSize``: nbgrader's ``LimitOutput`` cuts outputs to 1,000 lines; a single line of 50 MB passes it and would
land whole in the graded notebook and the feedback. This one keeps the start of any text output
longer than ``max_chars`` and says how much was cut.

``StripSeal``: the hidden tests carry the reference's code (``reference.unseal_line``); the feedback
shows the hidden tests without it.
"""

import json
import re

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

from autograder.reference import SEAL_CALL


def truncated(text, limit):
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [output cut by the grader: {len(text) - limit:,} more characters]\n"


class LimitOutputSize(NbGraderPreprocessor):  # enabled by default, unlike nbconvert's base class
    max_chars = Integer(100_000, help="characters kept of each text output").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = truncated("".join(output["text"]), self.max_chars)
            data = output.get("data", {})
            for key, value in list(data.items()):
                if isinstance(value, dict):  # a JSON document (widgets, Vega): whole or not at all
                    if len(json.dumps(value)) > self.max_chars:
                        del data[key]
                        data.setdefault("text/plain", f"[output cut by the grader: {key} too large]")
                elif key.startswith("text/") or key.endswith("json"):
                    data[key] = truncated("".join(value) if isinstance(value, list) else str(value), self.max_chars)
        return cell, resources


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def without_seal(text):
    """``text`` without its lines that hold the seal (colour codes in tracebacks included)."""
    return "\n".join(line for line in text.split("\n") if "unseal(" not in ANSI.sub("", line))


class StripSeal(NbGraderPreprocessor):
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and SEAL_CALL in cell.source:
            cell.source = without_seal(cell.source)
        for output in cell.get("outputs", []):
            if "traceback" in output:
                output["traceback"] = [without_seal(frame) for frame in output["traceback"]]
        return cell, resources
