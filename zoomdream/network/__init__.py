"""The network: BVLC GoogLeNet (Inception v1) ported to Flax so that it computes what Caffe
computes (:mod:`.googlenet`), its pretrained weights loaded strictly from the file shipped
in ``assets/`` (:mod:`.weights`), and the converter that made that file from Caffe's
weights (:mod:`.convert`, ``python -m zoomdream.network.convert``). Nothing here knows about
dreams or videos.
"""
