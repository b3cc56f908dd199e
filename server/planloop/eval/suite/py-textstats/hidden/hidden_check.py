import textstats as t
s = 'a bb a\nccc a'
assert t.words(s) == ['a', 'bb', 'a', 'ccc', 'a'] and t.top_word(s) == 'a'
assert t.longest_line(s) == 'a bb a' and t.summary(s) == {'words': 5, 'lines': 2, 'chars': 12}
assert abs(t.average_word_length(s) - 1.6) < 1e-9
