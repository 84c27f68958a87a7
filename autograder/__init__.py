"""Grading the course, and what its hidden tests import.

Nothing here is student-facing: student notebooks never import this package (``publish/`` pastes
what they need into them). It holds two things, and one module both use:

**The grader**, ``python -m autograder grade SUBMISSIONS --out RESULTS``. In: a folder or LMS zip of
student notebooks. Out: ``grades.csv``, feedback per student, the written answers to grade by hand.

1. ``collect.py``: whose notebook is which chapter's, archives extracted.
2. ``repair.py``: lost grading metadata and deleted test cells put back; ``suspicious.py`` flags
   code that reaches for what grading keeps from it; ``submissions.graded_only`` leaves out the
   experiments.
3. ``coursedir.py``: nbgrader course directories (one per chapter, copied for each job) and the
   grades read back from their gradebooks.
4. ``sandbox.py`` starts ``worker.py`` processes (no network, resource limits), which run nbgrader's
   autograde and feedback job after job; ``jail.py`` is the kernel's jail; ``verdict.py`` (with
   ``preprocessors.py``) decides each test cell's points outside the student's process.
5. ``grader.py``: the whole pipeline and its report; ``written.py``: the written questions
   (``python -m autograder total`` adds their points).

**The hidden tests' runtime**, imported by the instructor notebooks' cells: ``checks.py``
(``compare`` and the test inputs), ``reference.py`` (the reference loaded from the instructor
notebook), ``provided.py`` (earlier chapters' code, ``provide(...)``); in a student's kernel under
the grader, only ``probe.py`` (calls the student's functions) and ``plain.py`` (plain data across).

``course.py``: where the course's files are and what a chapter is, for everything here and in
``publish/``.
"""
