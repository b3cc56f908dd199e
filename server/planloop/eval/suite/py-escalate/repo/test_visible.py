from calc import add, sub
assert add(1, 2) == 3 and sub(3, 1) == 2
