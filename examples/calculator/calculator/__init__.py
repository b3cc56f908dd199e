"""A small calculator package, used as planloop's demo workspace."""
