import os

from autograder.course import tool_env

# nbgrader's Gradebook runs `alembic` by name: make this environment's tools reachable.
os.environ["PATH"] = tool_env()["PATH"]
