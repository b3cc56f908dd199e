import inventory as i
i.add_item('nut', 5, 2.0); i.add_item('bolt', 1, 1.0); i.add_item('nut', 1, 2.0)
i.remove_item('nut', 2)
assert i.count('nut') == 4 and i.total_value() == 9.0 and i.low_stock(2) == ['bolt']
assert i.report() == 'bolt: 1 x 1.0\nnut: 4 x 2.0'
