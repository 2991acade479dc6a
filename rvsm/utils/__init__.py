"""Leaf helpers on the bottom floor, importing nothing else of the package: atomic files, the
allocator setting, and checks of numeric arguments."""
