"""An nbgrader preprocessor of the grader's: output size.

``LimitOutputSize``: nbgrader's ``LimitOutput`` cuts outputs to 1,000 lines; a single line of 50 MB passes it and would
land whole in the graded notebook and the feedback. This one keeps the start of any text output
longer than ``max_chars`` and says how much was cut.
"""

import json

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer


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
