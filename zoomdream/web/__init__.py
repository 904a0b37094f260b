"""``python -m zoomdream serve``: a local web page that dreams pictures and zooms, for
people who do not use a terminal, and the small JSON API it runs on."""
