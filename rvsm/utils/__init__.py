"""Leaf helpers on the bottom floor, importing nothing else of the package: atomic files, the
allocator setting, checks of numeric arguments, and settings values made hashable (``freeze``)."""
