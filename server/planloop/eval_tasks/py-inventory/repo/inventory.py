ITEMS = {}
