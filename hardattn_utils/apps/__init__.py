"""The book's applications, one module each: ``retrieval`` (chapters 3–6), ``pointer``
(chapter 8), ``memory`` (chapter 9), ``latents`` (chapter 10), ``canvases``,
``glimpses`` and ``glimpse_training`` (chapter 11)
and ``digits`` (the data set chapters 10 and 11 use). They build on the core only.
"""
