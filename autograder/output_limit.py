"""An nbgrader preprocessor that caps the size of each output, not only its number of lines.

nbgrader's ``LimitOutput`` cuts outputs to 1,000 lines; a single line of 50 MB passes it and would
land whole in the graded notebook and the feedback. This one keeps the start of any text output
longer than ``max_chars`` and says how much was cut.
"""

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
            for key, value in output.get("data", {}).items():
                if key.startswith("text/") or key.endswith("json"):
                    output["data"][key] = truncated("".join(value) if isinstance(value, list) else str(value),
                                                    self.max_chars)
        return cell, resources
