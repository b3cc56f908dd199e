# text statistics
