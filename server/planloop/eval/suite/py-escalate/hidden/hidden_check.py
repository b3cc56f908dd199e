from calc import add, sub, mul, div
assert add(1, 2) == 3 and sub(3, 1) == 2 and mul(2, 3) == 6 and div(6, 3) == 2
try:
    div(1, 0)
except ValueError:
    pass
else:
    raise SystemExit('div(1, 0) must raise')
