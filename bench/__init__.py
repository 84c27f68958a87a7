"""The course's benchmark (``make bench``, ``make bench-grading``): seconds to execute, release,
grade and build the book, and the speed of the scale search and of GPTQ; ``__main__.py`` prints
the table. It measures both ``publish`` and ``autograder``, so it sits beside them."""
