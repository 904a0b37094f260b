"""The ways in: the command line (:mod:`.cli`), ``--plan``'s table, JSON and plot
(:mod:`.planview`), notebook helpers (:mod:`.notebook`) and galleries of layers and classes
(:mod:`.explore`). They wire the library together and hold no dreaming logic of their own.
"""
