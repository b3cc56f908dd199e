from calc import add, sub
assert add(2, 3) == 5
assert sub(5, 3) == 2
