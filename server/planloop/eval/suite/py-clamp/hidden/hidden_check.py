from mathx import clamp
assert clamp(5, 0, 3) == 3 and clamp(-1, 0, 3) == 0 and clamp(2, 0, 3) == 2
assert 'clamp' in open('README.md').read()
