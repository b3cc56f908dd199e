from stack import Stack
s = Stack()
assert s.is_empty()
s.push(1); s.push(2)
assert s.peek() == 2 and len(s) == 2 and s.pop() == 2 and len(s) == 1
