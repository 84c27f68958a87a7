"""The course's own tooling: release, book pages, reference loading and grading helpers.

Nothing here is student-facing: student notebooks never import this package.
"""
