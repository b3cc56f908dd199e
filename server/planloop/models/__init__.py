"""The model port (``base.Model``) and its adapters: the only modules that import a model
SDK (anthropic, openai), lazily on the first call.

May import the shared modules only; everything above talks to ``base.Model``.
"""
